package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.spec.CheckpointSelection;
import dev.distill.spec.GenerationSpec;
import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.checkpoint.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * An evaluate job with {@code checkpoints.select: all} over the checkpoints of a real finetune run,
 * handed over as a claim hands them ({@code <id>@<step>} besides {@code <id>}): every checkpoint is
 * scored, and the one chosen is the one whose reported metric is best in the chosen direction.
 */
class BestCheckpointTest {

  private static final String TRAINED = "0b7a6c1e-8f7d-4c55-9a3c-3f1f6f1e2a10";

  @TempDir static Path tmp;
  static Map<String, Path> artifacts = new HashMap<>();
  static TreeMap<Long, Path> byStep = new TreeMap<>();

  @BeforeAll
  static void train() {
    JobSpec finetune =
        RecipeSpecs.aFinetune()
            .student(ModelRef.of("builtin:gemma2-tiny"))
            .dataset(RecipeSpecs.procedural(300))
            .steps(6)
            .batch(4, 4)
            .learningRate(3e-2)
            .checkpointEvery(2)
            .keepCheckpoints(10)
            .evalEvery(0)
            .build();
    RecipeSpecs.Recorder r = new RecipeSpecs.Recorder();
    RunResult trained =
        Recipes.run(finetune, new RunContext(tmp.resolve("trained"), Map.of(), r, null));
    assertThat(trained.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    for (Checkpoint c : r.checkpoints) {
      byStep.put(c.step(), c.dir()); // the final one where it shares a step, as the service does
    }
    assertThat(byStep).hasSizeGreaterThanOrEqualTo(3);
    artifacts.put(TRAINED, trained.lastCheckpoint().dir());
    byStep.forEach(
        (step, dir) -> artifacts.put(CheckpointSelection.artifactKey(TRAINED, step), dir));
  }

  private static JobSpec evaluation(CheckpointSelection selection) {
    return RecipeSpecs.anEvaluation()
        .student(ModelRef.of("job:" + TRAINED))
        .batch(8)
        .generation(new GenerationSpec(2, 4, null, null, null))
        .checkpoints(selection)
        .build();
  }

  @Test
  void everyCheckpointIsScoredAndTheLowestValLossIsBest() throws Exception {
    RecipeSpecs.Recorder r = new RecipeSpecs.Recorder();
    RunResult result =
        Recipes.run(
            evaluation(new CheckpointSelection("all", "val_loss", null)),
            new RunContext(tmp.resolve("eval-min"), artifacts, r, null));
    assertThat(result.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(r.evals.keySet())
        .as("one validation point per checkpoint")
        .isEqualTo(byStep.keySet());
    long argmin =
        r.evals.entrySet().stream()
            .min(
                Map.Entry.comparingByValue(
                    (a, b) -> Double.compare(a.get("val_loss"), b.get("val_loss"))))
            .orElseThrow()
            .getKey();
    double min = r.evals.get(argmin).get("val_loss");
    // the checkpoints differ: the choice means something
    assertThat(r.evals.values().stream().map(m -> m.get("val_loss")).distinct())
        .hasSizeGreaterThan(1);
    assertThat(result.metrics().get("best_step")).isEqualTo((double) argmin);
    assertThat(result.metrics().get("val_loss")).isEqualTo(min);
    assertThat(result.metrics().get("checkpoints_scored")).isEqualTo((double) byStep.size());

    JsonNode summary =
        JsonMapper.builder()
            .build()
            .readTree(
                Files.readString(
                    result.lastCheckpoint().dir().resolve(EvaluationOutput.CHECKPOINTS_FILE)));
    assertThat(summary.get("best_step").asLong()).isEqualTo(argmin);
    assertThat(summary.get("mode").asString()).isEqualTo("min");
    assertThat(summary.get("checkpoints")).hasSize(byStep.size());
    assertThat(r.checkpoints).as("only the evaluation's output is registered").hasSize(1);
  }

  @Test
  void modeMaxChoosesTheHighest() {
    RecipeSpecs.Recorder r = new RecipeSpecs.Recorder();
    RunResult result =
        Recipes.run(
            evaluation(new CheckpointSelection("all", "val_loss", "max")),
            new RunContext(tmp.resolve("eval-max"), artifacts, r, null));
    long argmax =
        r.evals.entrySet().stream()
            .max(
                Map.Entry.comparingByValue(
                    (a, b) -> Double.compare(a.get("val_loss"), b.get("val_loss"))))
            .orElseThrow()
            .getKey();
    assertThat(result.metrics().get("best_step")).isEqualTo((double) argmax);
  }
}
