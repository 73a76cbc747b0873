package dev.distill.spec;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;
import java.util.Set;

/**
 * Which checkpoints of a {@code job:<id>} student an {@code evaluate} job scores, and by which
 * metric the best of them is chosen.
 *
 * @param select {@code latest} (the student job's output, the default) or {@code all} (every
 *     checkpoint the student job still has, each scored; the best is marked in that job's
 *     checkpoints)
 * @param bestBy the metric that chooses the best checkpoint, default {@code val_loss}: one of
 *     {@link #METRICS}
 * @param mode {@code min} or {@code max}; default {@code max} for {@code exact_match}, {@code
 *     top1_agreement} and {@code judge_mean}, else {@code min}
 */
public record CheckpointSelection(
    @JsonProperty("select") String select,
    @JsonProperty("best_by") String bestBy,
    @JsonProperty("mode") String mode) {

  public static final String LATEST = "latest";
  public static final String ALL = "all";

  /** The metrics a best checkpoint can be chosen by. */
  public static final List<String> METRICS =
      List.of(
          "val_loss", "val_ppl", "exact_match", "kl_to_teacher", "top1_agreement", "judge_mean");

  private static final Set<String> HIGHER_IS_BETTER =
      Set.of("exact_match", "top1_agreement", "judge_mean");

  public CheckpointSelection {
    select = select == null ? LATEST : select;
    bestBy = bestBy == null ? "val_loss" : bestBy;
    mode = mode == null ? (HIGHER_IS_BETTER.contains(bestBy) ? "max" : "min") : mode;
  }

  /**
   * The key under which a claim hands a worker one checkpoint of a {@code job:<id>} (besides the
   * job's output under {@code <id>}) when every checkpoint is scored: {@code <id>@<step>}.
   */
  public static String artifactKey(String jobId, long step) {
    return jobId + "@" + step;
  }

  /** Whether every checkpoint is scored. */
  public boolean all() {
    return ALL.equals(select);
  }

  /** Whether {@code a} is better than {@code b} by {@link #mode}. */
  public boolean better(double a, double b) {
    return "max".equals(mode) ? a > b : a < b;
  }

  void check(Violations v, ModelRef student, ModelRef teacher, JudgeSpec judge) {
    if (!List.of(LATEST, ALL).contains(select)) {
      v.add("select", Catalog.oneOf(List.of(LATEST, ALL), select));
    }
    if (!METRICS.contains(bestBy)) {
      v.add("best_by", Catalog.oneOf(METRICS, bestBy));
    }
    if (!List.of("min", "max").contains(mode)) {
      v.add("mode", Catalog.oneOf(List.of("min", "max"), mode));
    }
    if (all() && student != null && !student.uri().startsWith(ModelRef.JOB)) {
      v.add(
          "select",
          "all needs a student job:<id> (its checkpoints are scored), was '" + student.uri() + "'");
    }
    if ((bestBy.equals("kl_to_teacher") || bestBy.equals("top1_agreement")) && teacher == null) {
      v.add("best_by", bestBy + " needs a teacher");
    }
    if (bestBy.equals("judge_mean") && judge == null) {
      v.add("best_by", "judge_mean needs a judge");
    }
  }
}
