package dev.distill.trainer.loss;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * The per-token arithmetic shared by the chunked and the reference paths: both call {@link #sums}
 * on logits of some positions, so they differ only in how many positions they hand over at once.
 */
final class TokenLoss {

  /** Summed (not averaged) masked divergence and cross-entropy of some positions. */
  record Sums(NDArray kd, NDArray ce) {}

  private TokenLoss() {}

  /**
   * @param config the loss settings
   * @param vocab how teacher and student ids line up (ignored without a teacher)
   * @param k the scalar constants of this call
   * @param studentLogits (B, t, V_s), part of the student's graph
   * @param teacherLogits (B, t, V_t) without a graph, or null when kdRatio is 0
   * @param labels (B, t) int64 target id of each position, 0 where masked
   * @param mask (B, t) fp32 1 for positions in the loss, 0 otherwise
   * @param ceNeedsGrad false when the cross-entropy has weight 0: it is then computed off the graph
   * @return kd () = sum over masked positions of D(P_T || Q_T) (without T^2), ce () = sum of -log
   *     Q(label)
   */
  static Sums sums(
      KdLossConfig config,
      VocabAlignment vocab,
      Constants k,
      NDArray studentLogits,
      NDArray teacherLogits,
      NDArray labels,
      NDArray mask,
      boolean ceNeedsGrad) {
    // (B, t, V_s): the student's own full distribution at T = 1 for the cross-entropy
    NDArray ceInput = ceNeedsGrad ? studentLogits : studentLogits.stopGradient();
    NDArray logQFull = ceInput.logSoftmax(2);
    // (B, t)
    NDArray ceTok = logQFull.gather(labels.expandDims(2), 2).squeeze(2).neg();
    NDArray ce = ceTok.mul(mask).sum();
    if (teacherLogits == null) {
      return new Sums(null, ce);
    }
    boolean unit = config.temperature() == 1.0;
    NDArray s = studentLogits;
    NDArray t = teacherLogits;
    if (vocab.slices()) {
      // (B, t, shared): the real ids only; each side renormalised over them
      NDIndex shared = new NDIndex(":, :, :{}", vocab.compared());
      s = s.get(shared);
      t = t.get(shared);
    }
    if (!unit) {
      s = s.mul(k.invTemperature);
      t = t.mul(k.invTemperature);
    }
    NDArray logQ = unit && ceNeedsGrad && !vocab.slices() ? logQFull : s.logSoftmax(2);
    NDArray logP = t.logSoftmax(2);
    // (B, t)
    NDArray d = divergence(config, k, logP, logQ);
    return new Sums(d.mul(mask).sum(), ce);
  }

  /**
   * The same sums against a top-k teacher cache: both distributions are coarsened to k + 1 buckets,
   * the teacher's k stored ids and one tail bucket holding all other ids, and the divergence of
   * {@link KdLossConfig#kind()} is taken between the bucketed P and Q:
   *
   * <pre>
   * P_b = (p_1 .. p_k, p_tail)          p_tail = stored tail mass
   * Q_b = (q_1 .. q_k, q_tail)          q_tail = 1 - sum_i q(id_i), from the student's logits
   * </pre>
   *
   * Merging ids never increases an f-divergence (data processing; for KL the log-sum inequality),
   * so each kind is a lower bound of its full-vocabulary value; for forward KL the gap is exactly
   * p_tail * KL(P_tail/p_tail || Q_tail/q_tail), and every kind equals its full value when k covers
   * the vocabulary. Temperature 1 only (checked by the caller). Unused slots hold {@link
   * TeacherTargets#NO_TAIL} on both sides and contribute 0.
   *
   * @param studentLogits (1, c, V_s), part of the student's graph; V_s at least the cache's V_c
   * @param targets the c positions' stored teacher entries
   * @param labels (1, c) int64
   * @param mask (1, c) fp32
   */
  static Sums cachedSums(
      KdLossConfig config,
      Constants k,
      NDArray studentLogits,
      TeacherTargets targets,
      NDArray labels,
      NDArray mask,
      boolean ceNeedsGrad) {
    NDManager manager = studentLogits.getManager();
    NDArray ceInput = ceNeedsGrad ? studentLogits : studentLogits.stopGradient();
    NDArray logQFull = ceInput.logSoftmax(2); // (1, c, V_s)
    NDArray ce = logQFull.gather(labels.expandDims(2), 2).squeeze(2).neg().mul(mask).sum();
    int vc = targets.vocab();
    boolean slices = studentLogits.getShape().get(2) != vc;
    // (1, c, V_c): the student renormalised over the cache's ids, as the teacher was
    NDArray logQ =
        !slices && ceNeedsGrad
            ? logQFull
            : (slices ? studentLogits.get(new NDIndex(":, :, :{}", vc)) : studentLogits)
                .logSoftmax(2);
    int c = targets.positions();
    int kk = targets.k();
    long[] at = new long[c * kk];
    float[] logP = new float[c * kk];
    float[] used = new float[c * kk];
    float[] unusedFill = new float[c * kk];
    for (int i = 0; i < c; i++) {
      for (int j = 0; j < kk; j++) {
        int s = i * kk + j;
        if (j < targets.counts()[i]) {
          at[s] = targets.ids()[s];
          logP[s] = targets.logProbs()[s];
          used[s] = 1f;
        } else {
          at[s] = targets.ids()[i * kk]; // a repeat of the first id: masks nothing new
          logP[s] = TeacherTargets.NO_TAIL;
          unusedFill[s] = TeacherTargets.NO_TAIL;
        }
      }
    }
    Shape ck = new Shape(1, c, kk);
    NDArray ids = manager.create(at, ck); // (1, c, k) int64
    // (1, c, k) log q(id_i); NO_TAIL in unused slots
    NDArray logQTop =
        logQ.gather(ids, 2).mul(manager.create(used, ck)).add(manager.create(unusedFill, ck));
    // (1, c, V_c) 0 outside the stored ids, NO_TAIL at them: a constant, no gradient
    NDArray topMask =
        manager
            .zeros(new Shape(1, c, vc))
            .scatter(ids, manager.full(ck, TeacherTargets.NO_TAIL), 2);
    NDArray logQTail = logSumExp(logQ.add(topMask)); // (1, c, 1) log q_tail
    NDArray logQb = logQTop.concat(logQTail, 2); // (1, c, k + 1)
    NDArray logPb =
        manager
            .create(logP, ck)
            .concat(manager.create(targets.logTail(), new Shape(1, c, 1)), 2); // (1, c, k + 1)
    NDArray d = divergence(config, k, logPb, logQb); // (1, c)
    return new Sums(d.mul(mask).sum(), ce);
  }

  /**
   * @param x (B, t, V)
   * @return (B, t, 1) log sum_v exp x, shifted by the (detached) maximum
   */
  private static NDArray logSumExp(NDArray x) {
    NDArray max = x.max(new int[] {2}, true).stopGradient();
    return x.sub(max).exp().sum(new int[] {2}, true).log().add(max);
  }

  /**
   * @param logP (B, t, V) teacher log-probabilities
   * @param logQ (B, t, V) student log-probabilities
   * @return (B, t) the divergence at each position
   */
  static NDArray divergence(KdLossConfig config, Constants k, NDArray logP, NDArray logQ) {
    return switch (config.kind()) {
      case FORWARD_KL -> kl(logP, logQ);
      case REVERSE_KL -> kl(logQ, logP);
      case JSD -> {
        double beta = config.jsdBeta();
        if (beta == 0.0) {
          yield kl(logP, logQ); // the limit of JSD / beta
        }
        if (beta == 1.0) {
          yield kl(logQ, logP); // the limit of JSD / (1 - beta)
        }
        // log M = logsumexp(log P + log beta, log Q + log(1 - beta)), shifted by the (detached)
        // maximum;
        // stable where P and Q both underflow, unlike log(beta P + (1 - beta) Q)
        NDArray a = logP.add(k.logBeta);
        NDArray b = logQ.add(k.logOneMinusBeta);
        NDArray m = a.maximum(b).stopGradient();
        NDArray logM = a.sub(m).exp().add(b.sub(m).exp()).log().add(m);
        yield kl(logP, logM).mul(k.beta).add(kl(logQ, logM).mul(k.oneMinusBeta));
      }
    };
  }

  /**
   * @param logA (B, t, V) log of the first distribution A
   * @param logB (B, t, V) log of B
   * @return (B, t) KL(A || B) = sum_v A (log A - log B)
   */
  private static NDArray kl(NDArray logA, NDArray logB) {
    return logA.exp().mul(logA.sub(logB)).sum(new int[] {2});
  }
}
