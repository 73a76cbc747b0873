package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.data.Batch;
import dev.distill.trainer.data.Datasets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tiny distillation on CPU: a teacher is fine-tuned briefly, then a smaller student distilled
 * from its final checkpoint ({@code file:} reference) ends with a clearly lower KL(teacher ||
 * student) on the validation split than it started with.
 */
class DistillationTest {

  @TempDir Path tmp;

  @Test
  void distillingLowersTheStudentsKlToTheTeacher() {
    RecipeSpecs.Recorder teacherRun = new RecipeSpecs.Recorder();
    RunResult teacher =
        Recipes.run(
            RecipeSpecs.finetune(
                ModelRef.of("builtin:gemma2-tiny"),
                RecipeSpecs.procedural(400),
                RecipeSpecs.hp(15, 8, 8, 5e-3, 100, 1, 0)),
            new RunContext(tmp.resolve("teacher"), Map.of(), teacherRun, null));
    assertThat(teacher.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    Path teacherDir = teacher.lastCheckpoint().dir();

    ModelRef student = new ModelRef("builtin:gemma2-tiny", Map.of("num_hidden_layers", 1), null);
    JobSpec spec =
        RecipeSpecs.distill(
            ModelRef.of("file:" + teacherDir.toAbsolutePath()),
            student,
            RecipeSpecs.procedural(400),
            RecipeSpecs.hp(20, 8, 8, 5e-3, 100, 1, 10));

    // KL of the untrained student (the recipe initialises it from the same seed)
    double startKl;
    List<Batch> val;
    try (NDManager manager = NDManager.newBaseManager();
        Models.Loaded t = Models.load(teacherDir, null, manager);
        Models.Loaded s = Models.resolve(student, null, manager, 42L)) {
      val =
          Datasets.open(spec.dataset(), s.tokenizer())
              .validationBatches(8, s.tokenizer().padId(), 48);
      startKl = Evaluator.losses(s.model(), t.model(), val, manager, 16, null).get(Evaluator.KL);
    }

    RecipeSpecs.Recorder r = new RecipeSpecs.Recorder();
    RunResult result = Recipes.run(spec, new RunContext(tmp.resolve("student"), Map.of(), r, null));
    assertThat(result.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(r.evals).containsOnlyKeys(10L, 20L);
    double endKl = r.evals.get(20L).get("val_kl");
    System.out.printf(
        "val_kl: start %.4f, step 10 %.4f, end %.4f%n",
        startKl, r.evals.get(10L).get("val_kl"), endKl);
    assertThat(endKl).as("val_kl: start %s, end %s", startKl, endKl).isLessThan(0.6 * startKl);
    assertThat(r.evals.get(10L).get("val_kl")).isGreaterThan(endKl);
    assertThat(r.steps).allMatch(m -> Double.isFinite(m.kd()));

    // the reported score is that of the saved student, recomputed independently
    try (NDManager manager = NDManager.newBaseManager();
        Models.Loaded t = Models.load(teacherDir, null, manager);
        Models.Loaded s = Models.load(result.lastCheckpoint().dir(), null, manager)) {
      double kl = Evaluator.losses(s.model(), t.model(), val, manager, 16, null).get(Evaluator.KL);
      assertThat(kl).isCloseTo(endKl, within(1e-5));
      assertThat(s.model().config().numHiddenLayers()).isEqualTo(1);
    }
  }
}
