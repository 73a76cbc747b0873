package dev.distill.trainer.loss;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;

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
