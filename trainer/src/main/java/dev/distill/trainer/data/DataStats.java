package dev.distill.trainer.data;

/**
 * What became of the examples of one split; truncation is reported here, never silent.
 *
 * @param examples examples read
 * @param sequences rows produced (after chunking and packing)
 * @param truncated examples longer than max_seq_len, cut at the end
 * @param truncatedTokens tokens cut off those examples
 * @param dropped examples dropped because no loss token was left (prompt alone too long, or empty)
 * @param chunkedDocuments plain-text documents cut into several rows (expected for corpora; not
 *     truncation)
 * @param tokens tokens in all rows
 * @param lossTokens loss positions in all rows
 */
public record DataStats(
    long examples,
    long sequences,
    long truncated,
    long truncatedTokens,
    long dropped,
    long chunkedDocuments,
    long tokens,
    long lossTokens) {

  /** The counts of two datasets together. */
  public DataStats plus(DataStats o) {
    return new DataStats(
        examples + o.examples,
        sequences + o.sequences,
        truncated + o.truncated,
        truncatedTokens + o.truncatedTokens,
        dropped + o.dropped,
        chunkedDocuments + o.chunkedDocuments,
        tokens + o.tokens,
        lossTokens + o.lossTokens);
  }

  /** A one-line summary for logs and warning events. */
  public String summary() {
    return examples
        + " examples -> "
        + sequences
        + " sequences, "
        + tokens
        + " tokens ("
        + lossTokens
        + " trained); "
        + truncated
        + " truncated to max_seq_len ("
        + truncatedTokens
        + " tokens cut), "
        + dropped
        + " dropped with no response token left"
        + (chunkedDocuments > 0 ? ", " + chunkedDocuments + " documents chunked" : "");
  }
}
