package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import dev.distill.spec.DatasetSpec;
import dev.distill.spec.GenerationSpec;
import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The evaluate recipe: KL of a model to itself is 0, agreement 1; scores are in range. */
class EvaluationRecipeTest {

  @TempDir static Path tmp;
  static Path modelDir;

  @BeforeAll
  static void saveAModel() throws Exception {
    modelDir = tmp.resolve("model");
    Files.createDirectories(modelDir);
    try (NDManager manager = NDManager.newBaseManager();
        Models.Loaded m = Models.resolve(ModelRef.of("builtin:gemma2-tiny"), null, manager, 5L)) {
      Models.save(m, modelDir);
    }
  }

  private static JobSpec evaluate(ModelRef teacher, ModelRef student) {
    return evaluation(teacher, student).build();
  }

  /** One step's settings; a single batch of 8; 4 prompts of 6 new tokens for exact match. */
  private static RecipeSpecs.Job evaluation(ModelRef teacher, ModelRef student) {
    return RecipeSpecs.anEvaluation()
        .teacher(teacher)
        .student(student)
        .steps(1)
        .batch(8)
        .learningRate(1e-3)
        .checkpointEvery(100)
        .keepCheckpoints(1)
        .generation(new GenerationSpec(4, 6, null, null, null));
  }

  private static Map<String, Double> run(JobSpec spec) {
    RecipeSpecs.Recorder r = new RecipeSpecs.Recorder();
    RunResult result = Recipes.run(spec, new RunContext(tmp.resolve("out"), Map.of(), r, null));
    assertThat(result.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(result.lastCheckpoint()).isNotNull(); // evaluation.json, generations.jsonl
    assertThat(r.evals).containsOnlyKeys(0L);
    assertThat(r.evals.get(0L)).isEqualTo(result.metrics());
    return result.metrics();
  }

  @Test
  void aModelAgainstItselfHasZeroKlAndFullAgreement() {
    ModelRef self = ModelRef.of("file:" + modelDir.toAbsolutePath());
    Map<String, Double> m = run(evaluate(self, self));
    assertThat(m.get("kl_to_teacher")).isCloseTo(0.0, within(1e-5));
    assertThat(m.get("top1_agreement")).isEqualTo(1.0);
    assertThat(m.get("exact_match")).isBetween(0.0, 1.0);
    // an untrained byte-level model: cross-entropy near ln(272) = 5.6
    assertThat(m.get("val_loss")).isBetween(4.0, 7.0);
    assertThat(m.get("val_ppl")).isCloseTo(Math.exp(m.get("val_loss")), within(1e-6));
    // the procedural data is also scored by kind of task; the mean over all validation tokens is
    // a weighted mean of the two
    double unique = m.get("val_loss_unique");
    double several = m.get("val_loss_several");
    assertThat(unique).isNotEqualTo(several);
    assertThat(m.get("val_loss"))
        .isBetween(Math.min(unique, several) - 1e-6, Math.max(unique, several) + 1e-6);
  }

  @Test
  void anotherTeacherGivesPositiveKlAndPartialAgreement() {
    ModelRef self = ModelRef.of("file:" + modelDir.toAbsolutePath());
    Map<String, Double> m = run(evaluate(ModelRef.of("builtin:gemma2-tiny"), self));
    assertThat(m.get("kl_to_teacher")).isGreaterThan(1e-3);
    assertThat(m.get("top1_agreement")).isBetween(0.0, 0.99);
    assertThat(m.get("exact_match")).isBetween(0.0, 1.0);
    assertThat(m).doesNotContainKey("val_kl");
  }

  @Test
  void withoutATeacherOnlyStudentScores() {
    Map<String, Double> m = run(evaluate(null, ModelRef.of("file:" + modelDir.toAbsolutePath())));
    assertThat(m).containsKeys("val_loss", "val_ppl", "exact_match", "parameters");
    assertThat(m).doesNotContainKeys("kl_to_teacher", "top1_agreement");
  }

  @Test
  void anEmptyValidationShareFailsInsteadOfScoringNaN() throws Exception {
    Path one =
        Files.writeString(
            tmp.resolve("one.jsonl"), "{\"instruction\": \"Hi\", \"output\": \"Hello\"}\n");
    DatasetSpec ds =
        new DatasetSpec(
            "file:" + one.toAbsolutePath(), "alpaca", null, 64, 0.01, null, null, null, 1L);
    JobSpec spec =
        evaluation(null, ModelRef.of("file:" + modelDir.toAbsolutePath())).dataset(ds).build();
    assertThatThrownBy(
            () -> Recipes.run(spec, new RunContext(tmp.resolve("empty"), Map.of(), null, null)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("dataset.validation_fraction 0.01")
        .hasMessageContaining("held out no example");
  }
}
