package dev.distill.spec;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Settings of generation, for evaluate (greedy exact match) and synthesize (sampling) jobs.
 *
 * @param numSamples synthesize: instructions to generate; evaluate: held-out prompts to score (at
 *     most)
 * @param maxNewTokens tokens generated per answer
 * @param temperature 0 means greedy
 * @param topP nucleus sampling threshold
 * @param preQueryTemplate synthesize: the Magpie pre-query template family ({@code gemma2}, {@code
 *     llama3}, ...); default follows the dataset's prompt template
 */
public record GenerationSpec(
    @JsonProperty("num_samples") Integer numSamples,
    @JsonProperty("max_new_tokens") Integer maxNewTokens,
    @JsonProperty("temperature") Double temperature,
    @JsonProperty("top_p") Double topP,
    @JsonProperty("pre_query_template") String preQueryTemplate) {

  public GenerationSpec {
    numSamples = numSamples == null ? 200 : numSamples;
    maxNewTokens = maxNewTokens == null ? 32 : maxNewTokens;
    temperature = temperature == null ? 0.0 : temperature;
    topP = topP == null ? 1.0 : topP;
  }

  public static GenerationSpec defaults() {
    return new GenerationSpec(null, null, null, null, null);
  }

  void check(Violations v) {
    v.range("num_samples", numSamples, 1, 1_000_000);
    v.storable("pre_query_template", preQueryTemplate);
    v.range("max_new_tokens", maxNewTokens, 1, 32_768);
    v.range("temperature", temperature, 0.0, 100.0);
    v.positiveBelow("top_p", topP, 1.0);
  }
}
