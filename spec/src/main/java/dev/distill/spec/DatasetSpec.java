package dev.distill.spec;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The training or evaluation data of a job and how it becomes token sequences.
 *
 * @param uri {@code builtin:procedural} (the project's generated instruction tasks; {@link
 *     Catalog#DATASETS}), a {@code file:} path to Alpaca JSON/JSONL, chat JSONL or plain text, or
 *     {@code job:<uuid>} for a synthesize job's output
 * @param format {@link Catalog#FORMATS}: {@code alpaca}, {@code chat} or {@code text}; default
 *     {@code alpaca}
 * @param template prompt template, {@link Catalog#TEMPLATES}: {@code alpaca}, {@code gemma}, {@code
 *     llama3}, {@code phi3}, {@code chatml}; default {@code gemma}
 * @param maxSeqLen tokens per sequence, longer examples are truncated with a warning event (never
 *     silently)
 * @param validationFraction share of examples held out, chosen deterministically from {@code seed}
 *     and each whole example (duplicates and prompts with a unique answer stay on one side); must
 *     be above 0 for evaluate jobs and for training with {@code eval_every}; at most 0.5, or
 *     exactly 1 ({@link #WHOLE_FILE}) for an evaluate job that scores every example
 * @param maskPrompt whether the loss is masked to the response tokens
 * @param packing whether several short examples are packed into one sequence
 * @param numExamples for {@code builtin:procedural}: how many examples to generate
 * @param seed seed of the split and of the procedural generator
 * @param mix instead of {@code uri} and {@code format}: at least two {@link MixSource sources}
 *     whose training sequences are drawn by weight (deterministic from {@code seed}, exact across a
 *     resume); the other fields apply to every source; null for a single source
 */
public record DatasetSpec(
    @JsonProperty("uri") String uri,
    @JsonProperty("format") String format,
    @JsonProperty("template") String template,
    @JsonProperty("max_seq_len") Integer maxSeqLen,
    @JsonProperty("validation_fraction") Double validationFraction,
    @JsonProperty("mask_prompt") Boolean maskPrompt,
    @JsonProperty("packing") Boolean packing,
    @JsonProperty("num_examples") Integer numExamples,
    @JsonProperty("seed") Long seed,
    @JsonProperty("mix") @JsonInclude(JsonInclude.Include.NON_NULL) List<MixSource> mix) {

  /** {@code validation_fraction: 1}: every example is in the evaluation set (evaluate only). */
  public static final double WHOLE_FILE = 1.0;

  /** The most sources of a mix. */
  public static final int MAX_MIX = 64;

  @JsonCreator
  public DatasetSpec {
    mix = mix == null ? null : List.copyOf(mix);
    format = format == null ? "alpaca" : format.toLowerCase(Locale.ROOT);
    template = template == null ? "gemma" : template.toLowerCase(Locale.ROOT);
    maxSeqLen = maxSeqLen == null ? 128 : maxSeqLen;
    validationFraction = validationFraction == null ? 0.1 : validationFraction;
    maskPrompt = maskPrompt == null ? Boolean.TRUE : maskPrompt;
    packing = packing == null ? Boolean.FALSE : packing;
    numExamples = numExamples == null ? 4000 : numExamples;
    seed = seed == null ? 1234L : seed;
  }

  /** A single source (no mix). */
  public DatasetSpec(
      String uri,
      String format,
      String template,
      Integer maxSeqLen,
      Double validationFraction,
      Boolean maskPrompt,
      Boolean packing,
      Integer numExamples,
      Long seed) {
    this(
        uri,
        format,
        template,
        maxSeqLen,
        validationFraction,
        maskPrompt,
        packing,
        numExamples,
        seed,
        null);
  }

  /** Whether this spec mixes several sources. */
  public boolean isMix() {
    return mix != null;
  }

  /** This spec with another uri and format and no mix: one source of a mix, or a resolved ref. */
  public DatasetSpec withSource(String uri, String format) {
    return new DatasetSpec(
        uri,
        format,
        template,
        maxSeqLen,
        validationFraction,
        maskPrompt,
        packing,
        numExamples,
        seed,
        null);
  }

  /** The metric name of source {@code i} of the mix: its {@code name}, else its index. */
  public String sourceName(int i) {
    String n = mix.get(i).name();
    return n == null ? Integer.toString(i) : n;
  }

  /** The procedural dataset with defaults. */
  public static DatasetSpec procedural() {
    return new DatasetSpec("builtin:procedural", null, null, null, null, null, null, null, null);
  }

  void check(Violations v) {
    if (mix != null) {
      checkMix(v);
    } else {
      Refs.check(v, "uri", uri);
    }
    if (uri != null && Endpoints.isEndpoint(uri)) {
      v.add("uri", "an openai: endpoint is a model, not a dataset");
    }
    Refs.checkBuiltin(v, "uri", uri, "dataset", Catalog.DATASETS);
    if (!Catalog.FORMATS.contains(format)) {
      v.add("format", Catalog.oneOf(Catalog.FORMATS, format));
    }
    if (!Catalog.TEMPLATES.contains(template)) {
      v.add("template", Catalog.oneOf(Catalog.TEMPLATES, template));
    }
    v.range("max_seq_len", maxSeqLen, 8, 131072);
    if (validationFraction == null || validationFraction != WHOLE_FILE) {
      v.range("validation_fraction", validationFraction, 0.0, 0.5);
    }
    v.range("num_examples", numExamples, 1, 10_000_000);
  }

  private void checkMix(Violations v) {
    if (uri != null) {
      v.add("uri", "must be absent when mix is set (each source has its own uri)");
    }
    if (mix.size() < 2) {
      v.add("mix", "needs at least 2 sources, had " + mix.size());
    }
    if (mix.size() > MAX_MIX) {
      v.add("mix", "has " + mix.size() + " sources, at most " + MAX_MIX);
    }
    Set<String> names = new HashSet<>();
    for (int i = 0; i < mix.size(); i++) {
      MixSource s = mix.get(i);
      if (s == null) {
        v.add("mix[" + i + "]", "is null");
        continue;
      }
      s.check(v.at("mix[" + i + "]"));
      if (!names.add(sourceName(i))) {
        v.add("mix[" + i + "].name", "'" + sourceName(i) + "' names two sources");
      }
    }
  }
}
