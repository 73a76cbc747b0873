package dev.distill.trainer.generate;

import java.util.List;
import java.util.Set;

/**
 * How to generate.
 *
 * @param maxNewTokens at most this many new tokens (> 0)
 * @param temperature 0 for greedy, otherwise logits are divided by it before sampling
 * @param topP nucleus sampling: keep the most likely tokens whose probabilities sum to at least
 *     topP (0 < p <= 1)
 * @param seed the sampling seed (same seed, same output)
 * @param stopTokenIds generation stops when one of these is produced (it is not part of the output)
 * @param stopStrings generation stops when the decoded output contains one of these (the text is
 *     cut before it)
 */
public record GenerationOptions(
    int maxNewTokens,
    double temperature,
    double topP,
    long seed,
    Set<Integer> stopTokenIds,
    List<String> stopStrings) {

  public GenerationOptions {
    if (maxNewTokens <= 0) {
      throw new IllegalArgumentException("maxNewTokens=" + maxNewTokens + " must be positive");
    }
    if (!(temperature >= 0) || Double.isInfinite(temperature)) {
      throw new IllegalArgumentException(
          "temperature=" + temperature + " must be >= 0 (0 is greedy)");
    }
    if (!(topP > 0 && topP <= 1)) {
      throw new IllegalArgumentException("topP=" + topP + " must be in (0, 1]");
    }
    stopTokenIds = stopTokenIds == null ? Set.of() : Set.copyOf(stopTokenIds);
    stopStrings = stopStrings == null ? List.of() : List.copyOf(stopStrings);
    for (String s : stopStrings) {
      if (s.isEmpty()) {
        throw new IllegalArgumentException("stopStrings must not contain an empty string");
      }
    }
  }

  /** Greedy decoding of at most n tokens, stopping at the given ids. */
  public static GenerationOptions greedy(int maxNewTokens, Set<Integer> stopTokenIds) {
    return new GenerationOptions(maxNewTokens, 0, 1, 0, stopTokenIds, List.of());
  }

  /** Whether this picks the most likely token each step. */
  public boolean isGreedy() {
    return temperature == 0;
  }

  /** This with stop strings. */
  public GenerationOptions withStopStrings(List<String> strings) {
    return new GenerationOptions(maxNewTokens, temperature, topP, seed, stopTokenIds, strings);
  }
}
