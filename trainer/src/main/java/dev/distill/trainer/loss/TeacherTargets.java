package dev.distill.trainer.loss;

import java.util.Arrays;
import java.util.List;

/**
 * A teacher's distribution at some loss positions as a top-k cache holds it: per position, up to
 * {@code k} token ids with their log-probabilities at temperature 1 and the log of the mass left
 * outside them (the tail). Position i holds entries [i*k, i*k + counts[i]); the rest of its k slots
 * is unused. Plain arrays: the loss makes the tensors of one chunk at a time.
 *
 * @param vocab V_c, the ids the log-probabilities are normalised over: [0, V_c) (the tokenizer's
 *     size)
 * @param positions n, the loss positions held, in the order the loss visits them (row-major over
 *     the unmasked positions of a batch)
 * @param k slots per position
 * @param counts (n) entries used at each position, 1..k
 * @param ids (n*k) token ids, highest probability first
 * @param logProbs (n*k) log P(id) at T = 1 over the cache's vocabulary
 * @param logTail (n) log(1 - sum of the entries' probabilities), at least {@link #NO_TAIL}
 */
public record TeacherTargets(
    int vocab, int positions, int k, int[] counts, int[] ids, float[] logProbs, float[] logTail) {

  /**
   * The log of an empty tail (k covers the vocabulary), and of unused slots: finite, so that 0 *
   * log 0 stays 0 in the divergences instead of NaN; exp(-1e4) is 0 in fp32.
   */
  public static final float NO_TAIL = -1e4f;

  public TeacherTargets {
    if (vocab < 1 || positions < 0 || k < 1) {
      throw new IllegalArgumentException(
          "vocab must be >= 1, positions >= 0 and k >= 1, were "
              + vocab
              + ", "
              + positions
              + " and "
              + k);
    }
    if (counts.length != positions
        || ids.length != positions * k
        || logProbs.length != positions * k
        || logTail.length != positions) {
      throw new IllegalArgumentException(
          "arrays must hold " + positions + " positions of " + k + " slots");
    }
    for (int i = 0; i < positions; i++) {
      if (counts[i] < 1 || counts[i] > k) {
        throw new IllegalArgumentException(
            "counts must be between 1 and " + k + ", found " + counts[i]);
      }
      for (int j = 0; j < counts[i]; j++) {
        int id = ids[i * k + j];
        if (id < 0 || id >= vocab) {
          throw new IllegalArgumentException("ids must be in [0, " + vocab + "), found " + id);
        }
      }
    }
  }

  /** Positions [from, to). */
  public TeacherTargets slice(int from, int to) {
    return new TeacherTargets(
        vocab,
        to - from,
        k,
        Arrays.copyOfRange(counts, from, to),
        Arrays.copyOfRange(ids, from * k, to * k),
        Arrays.copyOfRange(logProbs, from * k, to * k),
        Arrays.copyOfRange(logTail, from, to));
  }

  /** The positions of several parts one after the other (all with the same k). */
  public static TeacherTargets concat(List<TeacherTargets> parts, int vocab, int k) {
    int n = parts.stream().mapToInt(TeacherTargets::positions).sum();
    int[] counts = new int[n];
    int[] ids = new int[n * k];
    float[] logProbs = new float[n * k];
    float[] logTail = new float[n];
    int at = 0;
    for (TeacherTargets p : parts) {
      if (p.k() != k || p.vocab() != vocab) {
        throw new IllegalArgumentException(
            "parts have k " + p.k() + " and " + k + ", vocab " + p.vocab() + " and " + vocab);
      }
      System.arraycopy(p.counts(), 0, counts, at, p.positions());
      System.arraycopy(p.ids(), 0, ids, at * k, p.positions() * k);
      System.arraycopy(p.logProbs(), 0, logProbs, at * k, p.positions() * k);
      System.arraycopy(p.logTail(), 0, logTail, at, p.positions());
      at += p.positions();
    }
    return new TeacherTargets(vocab, n, k, counts, ids, logProbs, logTail);
  }
}
