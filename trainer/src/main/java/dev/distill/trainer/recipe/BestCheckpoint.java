package dev.distill.trainer.recipe;

import dev.distill.spec.CheckpointSelection;
import dev.distill.spec.JobSpec;
import dev.distill.trainer.checkpoint.Checkpoint;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * An {@code evaluate} job with {@code checkpoints.select: all}: scores every checkpoint of the
 * {@code job:<id>} student that the claim handed over (keys {@code <id>@<step>} of {@link
 * RunContext#artifacts()}), reports each one's scores as a validation point at its step, and writes
 * the best one's results (by {@code checkpoints.best_by} and {@code mode}) as the output, with
 * {@code best_step} in its metrics and every checkpoint's scores in {@link
 * EvaluationOutput#CHECKPOINTS_FILE}. A checkpoint whose chosen metric is not finite is never best.
 */
final class BestCheckpoint {

  /** The metric naming the step of the best checkpoint. */
  static final String BEST_STEP = "best_step";

  private BestCheckpoint() {}

  static RunResult run(JobSpec spec, RunContext ctx) {
    CheckpointSelection sel = spec.checkpoints();
    String id = spec.student().target();
    String prefix = CheckpointSelection.artifactKey(id, 0).replaceFirst("0$", "");
    TreeMap<Long, Path> byStep = new TreeMap<>();
    ctx.artifacts()
        .forEach(
            (key, dir) -> {
              if (key.startsWith(prefix)) {
                byStep.put(Long.parseLong(key.substring(prefix.length())), dir);
              }
            });
    if (byStep.isEmpty()) {
      throw new IllegalArgumentException(
          "checkpoints.select all: job " + id + " has no checkpoints to score");
    }
    ctx.listener().onEvent("started", "scoring " + byStep.size() + " checkpoints of job " + id);
    List<Map<String, Object>> rows = new ArrayList<>();
    Long best = null;
    EvaluationRecipe.Scored bestScored = null;
    for (var e : byStep.entrySet()) {
      long step = e.getKey();
      Map<String, Path> artifacts = new HashMap<>(ctx.artifacts());
      artifacts.put(id, e.getValue());
      // each checkpoint keeps its own per-example progress, so a later attempt resumes it
      RunContext one =
          new RunContext(
              ctx.outputDir().resolve("checkpoint-scores").resolve("step-" + step),
              artifacts,
              ctx.listener(),
              ctx.stop(),
              ctx.endpoints(),
              ctx.charts(),
              ctx.device(),
              ctx.cacheStore());
      EvaluationRecipe.Scored s = EvaluationRecipe.score(spec, one);
      if (s.stopped() != null) {
        return new RunResult(RunResult.Outcome.of(s.stopped()), 0, 0, null, s.metrics());
      }
      ctx.listener().onEval(step, s.metrics());
      Double value = s.metrics().get(sel.bestBy());
      Map<String, Object> row = new LinkedHashMap<>();
      row.put("step", step);
      row.put("metrics", finite(s.metrics()));
      rows.add(row);
      if (value != null
          && Double.isFinite(value)
          && (bestScored == null || sel.better(value, bestScored.metrics().get(sel.bestBy())))) {
        best = step;
        bestScored = s;
      }
    }
    if (bestScored == null) {
      throw new IllegalStateException(
          "no checkpoint of job " + id + " has a finite " + sel.bestBy() + " to choose by");
    }
    Map<String, Double> metrics = new LinkedHashMap<>(bestScored.metrics());
    metrics.put(BEST_STEP, (double) best);
    metrics.put("checkpoints_scored", (double) byStep.size());
    Map<String, Object> summary = new LinkedHashMap<>();
    summary.put("best_by", sel.bestBy());
    summary.put("mode", sel.mode());
    summary.put("best_step", best);
    summary.put("checkpoints", rows);
    Checkpoint out = EvaluationOutput.save(spec, ctx, metrics, bestScored.perExample(), summary);
    ctx.listener().onCheckpoint(out, true);
    ctx.listener()
        .onEvent(
            "finished",
            "best of "
                + byStep.size()
                + " checkpoints by "
                + sel.bestBy()
                + " ("
                + sel.mode()
                + "): step "
                + best
                + ", "
                + bestScored.metrics().get(sel.bestBy())
                + "; results in "
                + out.dir());
    return new RunResult(RunResult.Outcome.COMPLETED, 0, 0, out, metrics);
  }

  private static Map<String, Double> finite(Map<String, Double> m) {
    Map<String, Double> out = new LinkedHashMap<>();
    m.forEach((k, v) -> out.put(k, Double.isFinite(v) ? v : null));
    return out;
  }
}
