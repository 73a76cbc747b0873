package dev.distill.spec;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** What a job does. JSON: lower case. */
public enum JobType {
  /** Train a student on a teacher's token distributions (KL mixed with cross-entropy). */
  DISTILL,
  /**
   * Train one model on labelled data with cross-entropy only (also "from scratch" for builtin
   * presets).
   */
  FINETUNE,
  /** Generate instruction data with a model (Magpie: pre-query template, then answers). */
  SYNTHESIZE,
  /**
   * Score a model on held-out data: loss, perplexity, KL and agreement with a teacher, exact match.
   */
  EVALUATE,
  /**
   * Run a teacher once over a dataset's training split and write its top-k token distributions (a
   * teacher-logit cache) for distill jobs to train from ({@code teacher_logits}).
   */
  TEACHER_PASS;

  @JsonValue
  public String json() {
    return name().toLowerCase(Locale.ROOT);
  }

  @JsonCreator
  public static JobType fromJson(String value) {
    for (JobType t : values()) {
      if (t.json().equals(value)) {
        return t;
      }
    }
    throw new IllegalArgumentException(
        "unknown job type '"
            + value
            + "', expected one of "
            + Arrays.stream(values()).map(JobType::json).collect(Collectors.joining(", ")));
  }
}
