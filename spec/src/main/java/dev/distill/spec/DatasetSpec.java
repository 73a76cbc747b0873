package dev.distill.spec;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Locale;

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
    @JsonProperty("seed") Long seed) {

  /** {@code validation_fraction: 1}: every example is in the evaluation set (evaluate only). */
  public static final double WHOLE_FILE = 1.0;

  public DatasetSpec {
    format = format == null ? "alpaca" : format.toLowerCase(Locale.ROOT);
    template = template == null ? "gemma" : template.toLowerCase(Locale.ROOT);
    maxSeqLen = maxSeqLen == null ? 128 : maxSeqLen;
    validationFraction = validationFraction == null ? 0.1 : validationFraction;
    maskPrompt = maskPrompt == null ? Boolean.TRUE : maskPrompt;
    packing = packing == null ? Boolean.FALSE : packing;
    numExamples = numExamples == null ? 4000 : numExamples;
    seed = seed == null ? 1234L : seed;
  }

  /** The procedural dataset with defaults. */
  public static DatasetSpec procedural() {
    return new DatasetSpec("builtin:procedural", null, null, null, null, null, null, null, null);
  }

  void check(Violations v) {
    Refs.check(v, "uri", uri);
    if (Endpoints.isEndpoint(uri)) {
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
}
