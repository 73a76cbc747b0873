package dev.distill.trainer.text;

import java.util.List;

/**
 * One request for text.
 *
 * @param prompt the raw prompt ({@link TextModel#complete}) or the user message ({@link
 *     TextModel#chat})
 * @param maxTokens tokens the model may write
 * @param temperature 0 is greedy
 * @param topP nucleus threshold
 * @param seed sampling seed (servers that support it: vLLM, Ollama, {@code distill serve})
 * @param stop strings that end the answer; the answer does not contain them
 * @param key what the request is for ({@code sample 12 instruction}, {@code example 3}), for
 *     messages
 */
public record TextRequest(
    String prompt,
    int maxTokens,
    double temperature,
    double topP,
    long seed,
    List<String> stop,
    String key) {

  public TextRequest {
    if (prompt == null) {
      throw new IllegalArgumentException("prompt is required");
    }
    if (maxTokens < 1) {
      throw new IllegalArgumentException("maxTokens must be positive, was " + maxTokens);
    }
    stop = stop == null ? List.of() : List.copyOf(stop);
  }
}
