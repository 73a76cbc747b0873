package dev.distill.trainer.generate;

import java.util.List;

/**
 * The result of one generation.
 *
 * @param tokens the new token ids (without a stop token id)
 * @param text the decoded new text cut before a stop string, or null when no decode function was
 *     given
 * @param stopReason why it stopped
 */
public record Generation(List<Integer> tokens, String text, StopReason stopReason) {

  /** Why generation stopped. */
  public enum StopReason {
    /** A stop token id was produced. */
    STOP_TOKEN,
    /** The decoded text contains a stop string. */
    STOP_STRING,
    /** maxNewTokens were produced. */
    MAX_TOKENS,
    /** The context (max_position_embeddings) is full. */
    CONTEXT_FULL
  }

  public Generation {
    tokens = List.copyOf(tokens);
  }
}
