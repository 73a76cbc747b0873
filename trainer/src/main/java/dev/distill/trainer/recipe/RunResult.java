package dev.distill.trainer.recipe;

import dev.distill.trainer.checkpoint.Checkpoint;
import java.util.Map;

/**
 * How a run ended.
 *
 * @param outcome completed, or stopped early and why
 * @param step the last optimiser step done (distill, finetune); 0 for evaluate and synthesize
 * @param samples the examples a synthesize run wrote to its output; 0 for the other jobs (and for a
 *     synthesis stopped early, which writes no output; its progress log keeps what it did for the
 *     next attempt)
 * @param lastCheckpoint the checkpoint written last (the output when completed: for evaluate the
 *     directory with evaluation.json and generations.jsonl), or null
 * @param metrics final metrics: the last step's and, for evaluation, the scores
 */
public record RunResult(
    Outcome outcome,
    long step,
    long samples,
    Checkpoint lastCheckpoint,
    Map<String, Double> metrics) {

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

  /** A training run (distill, finetune) that ended after {@code step} optimiser steps. */
  public static RunResult trained(
      Outcome outcome, long step, Checkpoint lastCheckpoint, Map<String, Double> metrics) {
    return new RunResult(outcome, step, 0, lastCheckpoint, metrics);
  }

  /** A completed evaluation: scores only, no checkpoint. */
  public static RunResult evaluated(Map<String, Double> scores) {
    return new RunResult(Outcome.COMPLETED, 0, 0, null, scores);
  }

  /** A synthesis that wrote {@code samples} examples into {@code output} (null when stopped). */
  public static RunResult synthesized(
      Outcome outcome, long samples, Checkpoint output, Map<String, Double> counts) {
    return new RunResult(outcome, 0, samples, output, counts);
  }
}
