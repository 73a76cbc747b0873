package dev.distill.trainer.recipe;

import dev.distill.trainer.checkpoint.Checkpoint;
import java.util.Map;

/**
 * How a run ended.
 *
 * @param outcome completed, or stopped early and why
 * @param step the last optimiser step done
 * @param lastCheckpoint the checkpoint written last (the output when completed), or null (evaluate)
 * @param metrics final metrics: the last step's and, for evaluation, the scores
 */
public record RunResult(
    Outcome outcome, long step, Checkpoint lastCheckpoint, Map<String, Double> metrics) {

  public enum Outcome {
    COMPLETED,
    CANCELLED,
    PREEMPTED;

    /** The outcome of a run stopped early: the one mapping from stop reason to outcome. */
    public static Outcome of(StopSignal.Reason reason) {
      return switch (reason) {
        case CANCELLED -> CANCELLED;
        case PREEMPTED -> PREEMPTED;
      };
    }
  }

  public RunResult {
    metrics = metrics == null ? Map.of() : Map.copyOf(metrics);
  }
}
