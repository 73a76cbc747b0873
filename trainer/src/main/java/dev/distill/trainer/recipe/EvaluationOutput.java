package dev.distill.trainer.recipe;

import dev.distill.spec.JobSpec;
import dev.distill.trainer.checkpoint.Checkpoint;
import dev.distill.trainer.checkpoint.CheckpointManager;
import dev.distill.trainer.checkpoint.TrainerState;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.Map;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * The output of an {@code evaluate} job, registered as its final checkpoint: {@value #SCORES_FILE}
 * (the metrics), {@value ExampleResults#FILE} (one line per example) and, with a judge, {@value
 * #HISTOGRAM_FILE} (the score histogram, drawn by the run's {@link Charts}).
 */
public final class EvaluationOutput {

  /** The metrics of the evaluation. */
  public static final String SCORES_FILE = "evaluation.json";

  /** {@code checkpoints: all}: each checkpoint's step and scores, and which was best. */
  public static final String CHECKPOINTS_FILE = "checkpoints.json";

  /** The judge's score histogram. */
  public static final String HISTOGRAM_FILE = "judge_scores.png";

  /** The per-example results. */
  public static final String GENERATIONS_FILE = ExampleResults.FILE;

  private static final ObjectMapper JSON = JsonMapper.builder().build();

  private EvaluationOutput() {}

  static Checkpoint save(
      JobSpec spec,
      RunContext ctx,
      Map<String, Double> metrics,
      ExampleResults.Outcome perExample) {
    return save(spec, ctx, metrics, perExample, null);
  }

  /** As above, and with {@code perCheckpoint} (not null) written to {@link #CHECKPOINTS_FILE}. */
  static Checkpoint save(
      JobSpec spec,
      RunContext ctx,
      Map<String, Double> metrics,
      ExampleResults.Outcome perExample,
      Object perCheckpoint) {
    long examples = perExample == null ? 0 : perExample.rows().size();
    TrainerState state =
        new TrainerState(
            TrainerState.FORMAT_VERSION,
            examples,
            0,
            examples,
            spec.hyperparameters().seed(),
            0,
            SpecHash.of(spec),
            metrics);
    return new CheckpointManager(ctx.checkpointDir(), 1)
        .save(
            state,
            dir -> {
              Map<String, Object> scores = new LinkedHashMap<>();
              metrics.forEach((k, v) -> scores.put(k, Double.isFinite(v) ? v : null));
              JSON.writerWithDefaultPrettyPrinter()
                  .writeValue(dir.resolve(SCORES_FILE).toFile(), scores);
              if (perCheckpoint != null) {
                JSON.writerWithDefaultPrettyPrinter()
                    .writeValue(dir.resolve(CHECKPOINTS_FILE).toFile(), perCheckpoint);
              }
              if (perExample == null) {
                return;
              }
              try (BufferedWriter w =
                  Files.newBufferedWriter(
                      dir.resolve(ExampleResults.FILE), StandardCharsets.UTF_8)) {
                for (JsonNode row : perExample.rows()) {
                  w.write(JSON.writeValueAsString(row));
                  w.write('\n');
                }
              }
              JudgeScores judge = perExample.judge();
              if (judge != null) {
                ctx.charts()
                    .histogram(
                        dir.resolve(HISTOGRAM_FILE),
                        String.format(
                            "Judge scores: mean %.1f, %d scored, %d unscored",
                            judge.mean(), judge.scored(), judge.unscored()),
                        judge.binLabels(),
                        judge.histogram());
              }
            });
  }
}
