package dev.distill.trainer.recipe;

import dev.distill.trainer.checkpoint.Checkpoint;
import java.util.Map;

/** Receives what a run does. Called on the training thread; implementations must be quick. */
public interface TrainingListener {

  /**
   * A human-readable event: {@code type} such as {@code started}, {@code resumed}, {@code warning}.
   */
  default void onEvent(String type, String message) {}

  /** After every optimiser step. */
  default void onStep(StepMetrics metrics) {}

  /**
   * After a validation pass; metric names such as {@code val_loss}, {@code val_ppl}, {@code
   * val_kl}.
   */
  default void onEval(long step, Map<String, Double> metrics) {}

  /**
   * After a checkpoint is on disk and verified; {@code isFinal} for the last one of a finished run.
   */
  default void onCheckpoint(Checkpoint checkpoint, boolean isFinal) {}

  TrainingListener NONE = new TrainingListener() {};
}
