package dev.distill.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;
import java.util.Locale;

/**
 * Settings of generation, for evaluate (greedy exact match) and synthesize (sampling) jobs.
 *
 * @param numSamples synthesize: instructions to generate; evaluate: held-out prompts to score (at
 *     most)
 * @param maxNewTokens tokens generated per answer
 * @param temperature 0 means greedy
 * @param topP nucleus sampling threshold
 * @param preQueryTemplate synthesize: the Magpie pre-query template family, {@link
 *     Catalog#PRE_QUERY_TEMPLATES} ({@code gemma2}, {@code llama3}, ...); it also renders the
 *     response prompt. Default: the dataset's prompt template, else {@code gemma}
 * @param preQuery synthesize: a custom pre-query text used verbatim for the instruction (for
 *     example a {@code pre_query_template_with_system_prompt} of Magpie's {@code
 *     model_configs.json}), instead of the family's; the response prompt is still the family's
 * @param stopStrings synthesize: more strings that end an instruction or a response (Magpie's
 *     {@code stop_tokens}), beside the template's end-of-turn marker and the tokenizer's EOS
 * @param mode synthesize: {@value #MAGPIE} (the default; the teacher writes instructions and
 *     responses) or {@value #RESPONSES} (sequence-level distillation: the teacher answers each
 *     record of the job's {@code dataset}, whose instructions are kept unchanged); absent means
 *     magpie; or {@value #CORPUS} (instruction pre-training: the teacher writes question-answer
 *     pairs grounded in each chunk of the job's raw {@code text} dataset)
 * @param chunkTokens mode corpus: the most tokens of one chunk (default {@value
 *     #DEFAULT_CHUNK_TOKENS}); absent otherwise
 * @param pairsPerChunk mode corpus: the pairs asked for per chunk (default {@value
 *     #DEFAULT_PAIRS_PER_CHUNK}); absent otherwise
 */
public record GenerationSpec(
    @JsonProperty("num_samples") Integer numSamples,
    @JsonProperty("max_new_tokens") Integer maxNewTokens,
    @JsonProperty("temperature") Double temperature,
    @JsonProperty("top_p") Double topP,
    @JsonProperty("pre_query_template") String preQueryTemplate,
    // absent when unset, so that a spec without them serialises (and hashes) as before
    @JsonProperty("pre_query") @JsonInclude(JsonInclude.Include.NON_NULL) String preQuery,
    @JsonProperty("stop_strings") @JsonInclude(JsonInclude.Include.NON_EMPTY)
        List<String> stopStrings,
    @JsonProperty("mode") @JsonInclude(JsonInclude.Include.NON_NULL) String mode,
    @JsonProperty("chunk_tokens") @JsonInclude(JsonInclude.Include.NON_NULL) Integer chunkTokens,
    @JsonProperty("pairs_per_chunk") @JsonInclude(JsonInclude.Include.NON_NULL)
        Integer pairsPerChunk) {

  /** Synthesize mode: Magpie, the teacher writes the instructions too. */
  public static final String MAGPIE = "magpie";

  /** Synthesize mode: the teacher answers the instructions of the job's dataset. */
  public static final String RESPONSES = "responses";

  /** Synthesize mode: question-answer pairs grounded in the chunks of a raw text corpus. */
  public static final String CORPUS = "corpus";

  public static final int DEFAULT_CHUNK_TOKENS = 256;

  public static final int DEFAULT_PAIRS_PER_CHUNK = 3;

  /** Without corpus settings. */
  public GenerationSpec(
      Integer numSamples,
      Integer maxNewTokens,
      Double temperature,
      Double topP,
      String preQueryTemplate,
      String preQuery,
      List<String> stopStrings,
      String mode) {
    this(
        numSamples,
        maxNewTokens,
        temperature,
        topP,
        preQueryTemplate,
        preQuery,
        stopStrings,
        mode,
        null,
        null);
  }

  /** Whether a synthesize job writes pairs grounded in a corpus ({@value #CORPUS}). */
  public boolean corpus() {
    return CORPUS.equals(mode);
  }

  /** mode corpus: the most tokens of a chunk. */
  public int chunkTokensOrDefault() {
    return chunkTokens == null ? DEFAULT_CHUNK_TOKENS : chunkTokens;
  }

  /** mode corpus: the pairs asked for per chunk. */
  public int pairsPerChunkOrDefault() {
    return pairsPerChunk == null ? DEFAULT_PAIRS_PER_CHUNK : pairsPerChunk;
  }

  /** The longest custom pre-query text. */
  public static final int MAX_PRE_QUERY = 8192;

  public GenerationSpec {
    numSamples = numSamples == null ? 200 : numSamples;
    maxNewTokens = maxNewTokens == null ? 32 : maxNewTokens;
    temperature = temperature == null ? 0.0 : temperature;
    topP = topP == null ? 1.0 : topP;
    preQueryTemplate = preQueryTemplate == null ? null : preQueryTemplate.toLowerCase(Locale.ROOT);
    stopStrings = stopStrings == null ? List.of() : List.copyOf(stopStrings);
    mode = mode == null ? null : mode.toLowerCase(Locale.ROOT);
  }

  /** Without a mode (Magpie). */
  public GenerationSpec(
      Integer numSamples,
      Integer maxNewTokens,
      Double temperature,
      Double topP,
      String preQueryTemplate,
      String preQuery,
      List<String> stopStrings) {
    this(
        numSamples, maxNewTokens, temperature, topP, preQueryTemplate, preQuery, stopStrings, null);
  }

  /** Whether a synthesize job answers its dataset's instructions ({@value #RESPONSES}). */
  public boolean responses() {
    return RESPONSES.equals(mode);
  }

  /** Without a custom pre-query text or stop strings. */
  public GenerationSpec(
      Integer numSamples,
      Integer maxNewTokens,
      Double temperature,
      Double topP,
      String preQueryTemplate) {
    this(numSamples, maxNewTokens, temperature, topP, preQueryTemplate, null, null, null);
  }

  public static GenerationSpec defaults() {
    return new GenerationSpec(null, null, null, null, null, null, null, null, null, null);
  }

  void check(Violations v) {
    v.range("num_samples", numSamples, 1, 1_000_000);
    v.storable("pre_query_template", preQueryTemplate);
    if (mode != null && !MAGPIE.equals(mode) && !RESPONSES.equals(mode) && !CORPUS.equals(mode)) {
      v.add("mode", Catalog.oneOf(List.of(MAGPIE, RESPONSES, CORPUS), mode));
    }
    if ((responses() || corpus()) && preQueryTemplate != null) {
      v.add(
          "pre_query_template",
          "is for mode magpie only; mode " + mode + " renders the prompts with dataset.template");
    }
    if ((responses() || corpus()) && preQuery != null) {
      v.add("pre_query", "is for mode magpie only (mode " + mode + " writes no instructions)");
    }
    if (!corpus() && chunkTokens != null) {
      v.add("chunk_tokens", "is for mode corpus only");
    }
    if (!corpus() && pairsPerChunk != null) {
      v.add("pairs_per_chunk", "is for mode corpus only");
    }
    v.range("chunk_tokens", chunkTokens, 16, 32_768);
    v.range("pairs_per_chunk", pairsPerChunk, 1, 32);
    v.range("max_new_tokens", maxNewTokens, 1, 32_768);
    v.range("temperature", temperature, 0.0, 100.0);
    v.positiveBelow("top_p", topP, 1.0);
    if (preQueryTemplate != null && !Catalog.PRE_QUERY_TEMPLATES.containsKey(preQueryTemplate)) {
      v.add(
          "pre_query_template",
          Catalog.oneOf(Catalog.PRE_QUERY_TEMPLATES.keySet(), preQueryTemplate));
    }
    if (preQuery != null && (preQuery.isEmpty() || preQuery.length() > MAX_PRE_QUERY)) {
      v.add("pre_query", "must be 1.." + MAX_PRE_QUERY + " characters, was " + preQuery.length());
    }
    if (stopStrings.size() > 16) {
      v.add("stop_strings", "at most 16 strings, was " + stopStrings.size());
    }
    for (int i = 0; i < stopStrings.size(); i++) {
      String s = stopStrings.get(i);
      if (s == null || s.isEmpty() || s.length() > 256) {
        v.add("stop_strings[" + i + "]", "must be 1..256 characters");
      }
    }
  }
}
