package dev.distill.trainer.data;

/**
 * One row of a batch before padding: token ids, which of them are trained as targets, and which
 * document each token belongs to (several when packed).
 *
 * @param ids (n) token ids, n at most max_seq_len
 * @param target (n) whether token i is a loss target (a response token, or every token when the
 *     prompt is not masked); the first token of a row is never predicted
 * @param doc (n) document number within the row, from 1; all 1 unless packed
 */
public record Sequence(int[] ids, boolean[] target, int[] doc) {

  public Sequence {
    if (ids.length != target.length || ids.length != doc.length) {
      throw new IllegalArgumentException(
          "ids, target and doc lengths differ: "
              + ids.length
              + ", "
              + target.length
              + ", "
              + doc.length);
    }
  }

  /** A single-document row. */
  public static Sequence of(int[] ids, boolean[] target) {
    int[] doc = new int[ids.length];
    java.util.Arrays.fill(doc, 1);
    return new Sequence(ids, target, doc);
  }

  public int length() {
    return ids.length;
  }

  /** Loss tokens of this row: positions t whose next token t+1 is a target of the same document. */
  public int lossTokens() {
    int n = 0;
    for (int t = 1; t < ids.length; t++) {
      if (target[t] && doc[t] == doc[t - 1]) {
        n++;
      }
    }
    return n;
  }
}
