package dev.distill.app.serve;

import java.util.List;

/**
 * The generation parameters of one request, checked: what {@code /v1/completions} and {@code
 * /v1/chat/completions} share.
 *
 * @param maxTokens at most this many new tokens per choice (clipped to what the context leaves)
 * @param temperature 0 for greedy
 * @param topP nucleus sampling, in (0, 1]
 * @param n choices per prompt
 * @param stop stop strings (up to 4), the text is cut before them
 * @param seed the sampling seed of the first choice (choice i uses seed + i), or null for a random
 *     one
 * @param logprobs null for none, else the number of top alternatives per token (0..20)
 * @param stream answer as server-sent events
 * @param includeUsage {@code stream_options.include_usage}: a last chunk with the usage
 */
record SamplingParams(
    int maxTokens,
    double temperature,
    double topP,
    int n,
    List<String> stop,
    Long seed,
    Integer logprobs,
    boolean stream,
    boolean includeUsage) {

  SamplingParams {
    stop = List.copyOf(stop);
  }
}
