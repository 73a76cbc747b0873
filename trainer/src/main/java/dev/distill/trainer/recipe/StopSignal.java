package dev.distill.trainer.recipe;

import java.util.Optional;

/** Asked between steps whether the run must stop; the recipe then checkpoints and returns. */
@FunctionalInterface
public interface StopSignal {

  /** Why a run stops early. */
  enum Reason {
    /** The job was cancelled: checkpoint, then end as cancelled. */
    CANCELLED,
    /** The process is shutting down (SIGTERM, scale-down): checkpoint so another worker resumes. */
    PREEMPTED;

    /** The type of the event a recipe reports when it stops for this reason. */
    public String eventType() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  Optional<Reason> check();

  StopSignal NEVER = Optional::empty;
}
