package dev.distill.trainer.data;

import java.util.List;

/**
 * A batch as plain arrays, row-major (B, T), right-padded.
 *
 * @param inputIds (B*T) token ids, padding = the tokenizer's pad id
 * @param labels (B*T) the next token: {@code labels[b,t] = inputIds[b,t+1]}; the pad id where there
 *     is none
 * @param lossMask (B*T) 1 where {@code labels[b,t]} is trained (a response token of the same
 *     document), else 0
 * @param attentionMask (B*T) 0 for padding; for real tokens the document number within the row (1
 *     when not packed), so {@code mask > 0} is the usual padding mask and equal numbers give the
 *     block-diagonal mask of packed documents
 * @param batchSize B
 * @param seqLen T
 */
public record Batch(
    long[] inputIds,
    long[] labels,
    float[] lossMask,
    long[] attentionMask,
    int batchSize,
    int seqLen) {

  public Batch {
    int n = batchSize * seqLen;
    if (inputIds.length != n
        || labels.length != n
        || lossMask.length != n
        || attentionMask.length != n) {
      throw new IllegalArgumentException(
          "batch arrays must all have batchSize*seqLen = " + n + " elements");
    }
  }

  /** The number of loss tokens (unmasked labels). */
  public long tokens() {
    long n = 0;
    for (float m : lossMask) {
      if (m != 0f) {
        n++;
      }
    }
    return n;
  }

  /** Real (unpadded) tokens. */
  public long realTokens() {
    long n = 0;
    for (long m : attentionMask) {
      if (m != 0) {
        n++;
      }
    }
    return n;
  }

  /**
   * Pads rows into a batch.
   *
   * @param rows B rows of at most {@code seqLen} tokens
   * @param seqLen T, or 0 for the longest row
   * @param padId the tokenizer's pad id
   */
  public static Batch of(List<Sequence> rows, int seqLen, int padId) {
    int longest = 0;
    for (Sequence s : rows) {
      longest = Math.max(longest, s.length());
    }
    int t = seqLen > 0 ? seqLen : Math.max(longest, 1);
    if (longest > t) {
      throw new IllegalArgumentException(
          "a row of " + longest + " tokens does not fit seqLen " + t);
    }
    int b = rows.size();
    long[] ids = new long[b * t];
    long[] labels = new long[b * t];
    float[] mask = new float[b * t];
    long[] attention = new long[b * t];
    java.util.Arrays.fill(ids, padId);
    java.util.Arrays.fill(labels, padId);
    for (int r = 0; r < b; r++) {
      Sequence s = rows.get(r);
      int base = r * t;
      int n = s.length();
      for (int i = 0; i < n; i++) {
        ids[base + i] = s.ids()[i];
        attention[base + i] = s.doc()[i];
        if (i + 1 < n) {
          labels[base + i] = s.ids()[i + 1];
          if (s.target()[i + 1] && s.doc()[i + 1] == s.doc()[i]) {
            mask[base + i] = 1f;
          }
        }
      }
    }
    return new Batch(ids, labels, mask, attention, b, t);
  }
}
