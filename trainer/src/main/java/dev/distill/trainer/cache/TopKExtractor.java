package dev.distill.trainer.cache;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.distill.trainer.loss.TeacherTargets;

/**
 * The cache's entries of some positions from the teacher's logits: log-softmax at T = 1 over the
 * cache's vocabulary, the top k, the log of the mass outside them, and the cut by a mass bound.
 */
final class TopKExtractor {

  private TopKExtractor() {}

  /**
   * @param logits (1, c, V_t) the teacher's logits (no graph)
   * @param vocab V_c: ids [0, V_c) are kept and renormalised over (the tokenizer's size, at most
   *     V_t; a padded embedding's extra ids are left out)
   * @param k entries per position, at most V_c
   * @param massBound when not null, a position keeps only its fewest top entries whose mass reaches
   *     it (at least one, at most k), the rest join the tail
   */
  static TeacherTargets extract(NDArray logits, int vocab, int k, Double massBound) {
    NDManager manager = logits.getManager();
    long vt = logits.getShape().get(2);
    int c = Math.toIntExact(logits.getShape().get(1));
    NDArray z = vt == vocab ? logits : logits.get(new NDIndex(":, :, :{}", vocab)); // (1, c, V_c)
    NDArray logP = z.logSoftmax(2); // (1, c, V_c)
    NDList top = logP.topK(k, 2, true, true); // values (1, c, k), indices (1, c, k)
    NDArray values = top.get(0);
    NDArray indices = top.get(1).toType(DataType.INT64, false);
    // (1, c, V_c): NO_TAIL at the top ids, 0 elsewhere; the tail is a log-sum-exp of the rest, with
    // no cancellation (1 - sum p would lose the tail below fp32's resolution of 1)
    NDArray mask =
        manager
            .zeros(new Shape(1, c, vocab))
            .scatter(indices, manager.full(new Shape(1, c, k), TeacherTargets.NO_TAIL), 2);
    NDArray rest = logP.add(mask);
    NDArray max = rest.max(new int[] {2}, true);
    NDArray tail = rest.sub(max).exp().sum(new int[] {2}, true).log().add(max); // (1, c, 1)
    float[] lp = values.toFloatArray();
    long[] ids = indices.toLongArray();
    float[] logTail = tail.toFloatArray();
    int[] counts = new int[c];
    int[] id32 = new int[c * k];
    for (int i = 0; i < c * k; i++) {
      id32[i] = (int) ids[i];
    }
    for (int i = 0; i < c; i++) {
      int keep = k;
      if (massBound != null) {
        double mass = 0;
        keep = 0;
        while (keep < k && mass < massBound) {
          mass += Math.exp(lp[i * k + keep]);
          keep++;
        }
      }
      counts[i] = keep;
      double t = Math.max(logTail[i], TeacherTargets.NO_TAIL);
      for (int j = keep; j < k; j++) {
        t = logAdd(t, lp[i * k + j]); // the dropped entries join the tail
        lp[i * k + j] = 0f;
        id32[i * k + j] = 0;
      }
      logTail[i] = (float) Math.max(t, TeacherTargets.NO_TAIL);
    }
    return new TeacherTargets(vocab, c, k, counts, id32, lp, logTail);
  }

  /** log(e^a + e^b) in double. */
  static double logAdd(double a, double b) {
    double m = Math.max(a, b);
    return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
  }
}
