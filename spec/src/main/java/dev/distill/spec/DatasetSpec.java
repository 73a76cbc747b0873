package dev.distill.spec;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Locale;
import java.util.Set;

/**
 * The training or evaluation data of a job and how it becomes token sequences.
 *
 * @param uri {@code builtin:procedural} (the project's generated instruction tasks), a {@code
 *     file:} path to Alpaca JSON/JSONL, chat JSONL or plain text, or {@code job:<uuid>} for a
 *     synthesize job's output
 * @param format {@code alpaca}, {@code chat} or {@code text}; default {@code alpaca}
 * @param template prompt template: {@code alpaca}, {@code gemma}, {@code llama3}, {@code phi3},
 *     {@code chatml}; default {@code gemma}
 * @param maxSeqLen tokens per sequence, longer examples are truncated with a warning event (never
 *     silently)
 * @param validationFraction share of examples held out, chosen deterministically from {@code seed}
 *     and each whole example (duplicates and prompts with a unique answer stay on one side)
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

  public static final Set<String> FORMATS = Set.of("alpaca", "chat", "text");
  public static final Set<String> TEMPLATES = Set.of("alpaca", "gemma", "llama3", "phi3", "chatml");

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
    if (!FORMATS.contains(format)) {
      v.add(
          "format",
          "must be one of "
              + String.join(", ", FORMATS.stream().sorted().toList())
              + ", was '"
              + format
              + "'");
    }
    if (!TEMPLATES.contains(template)) {
      v.add(
          "template",
          "must be one of "
              + String.join(", ", TEMPLATES.stream().sorted().toList())
              + ", was '"
              + template
              + "'");
    }
    v.range("max_seq_len", maxSeqLen, 8, 131072);
    v.range("validation_fraction", validationFraction, 0.0, 0.5);
    v.range("num_examples", numExamples, 1, 10_000_000);
  }
}
