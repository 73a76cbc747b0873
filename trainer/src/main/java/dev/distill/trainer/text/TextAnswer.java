package dev.distill.trainer.text;

/**
 * A model's answer.
 *
 * @param text the text, without the stop string that ended it
 * @param truncated whether it ended at {@code maxTokens} (OpenAI's {@code finish_reason: length})
 *     rather than at a stop string or end-of-turn
 * @param tokens tokens written, when known (0 when the server does not say)
 */
public record TextAnswer(String text, boolean truncated, long tokens) {
  public TextAnswer {
    text = text == null ? "" : text;
  }
}
