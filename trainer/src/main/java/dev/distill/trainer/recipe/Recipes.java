package dev.distill.trainer.recipe;

import dev.distill.spec.InvalidSpecException;
import dev.distill.spec.JobSpec;
import dev.distill.trainer.cache.TeacherCacheException;
import dev.distill.trainer.checkpoint.CheckpointException;
import java.io.IOException;
import java.io.UncheckedIOException;

/** Picks the recipe of a job type, and classifies failures for the service. */
public final class Recipes {

  private Recipes() {}

  public static RunResult run(JobSpec spec, RunContext ctx) {
    return switch (spec.type()) {
      case DISTILL, FINETUNE -> TrainingRecipe.run(spec, ctx);
      case EVALUATE -> EvaluationRecipe.run(spec, ctx);
      case SYNTHESIZE -> SynthesisRecipe.run(spec, ctx);
      case TEACHER_PASS -> TeacherPassRecipe.run(spec, ctx);
    };
  }

  /**
   * One task of a job that runs as tasks: today only a {@code teacher_pass} with shards, whose
   * tasks are its shards ({@code index}) and the seal ({@code seal}, after every shard).
   */
  public static RunResult runTask(JobSpec spec, RunContext ctx, int index, boolean seal) {
    if (spec.type() != dev.distill.spec.JobType.TEACHER_PASS) {
      throw new IllegalArgumentException(
          "only teacher_pass jobs run as tasks, not " + spec.type().json());
    }
    return seal
        ? TeacherPassRecipe.runSeal(spec, ctx)
        : TeacherPassRecipe.runShard(spec, ctx, index);
  }

  /** One line that says what went wrong, without class names where the message says enough. */
  public static String describeFailure(Throwable e) {
    String msg = e.getMessage();
    if (msg == null || msg.isBlank()) {
      msg = e.getClass().getSimpleName();
    }
    msg = msg.replace('\n', ' ');
    return msg.length() > 4000 ? msg.substring(0, 4000) + "..." : msg;
  }

  /**
   * Whether another attempt could succeed: I/O trouble (a shared volume, a full disk freed later)
   * yes; bad input, bad weights, unsupported types and bugs no.
   */
  public static boolean isRetryable(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof InvalidSpecException
          || t instanceof CheckpointException
          || t instanceof TeacherCacheException
          || t instanceof IllegalArgumentException
          || t instanceof UnsupportedOperationException) {
        return false;
      }
      if (t instanceof IOException || t instanceof UncheckedIOException) {
        return true;
      }
    }
    return false;
  }
}
