package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.fused.NativeKernels;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The recipe on the native path ({@code -Ddistill.native_kernels=true}) against the composed path:
 * a finetune (the teacher), then a distillation from it, each run twice on the same data and seed;
 * every step's loss agrees to float rounding, the run says which path it took, and both learn.
 */
class NativeKernelsTrainingTest {

  /** Runs with the switch set as asked (the model reads it when it is made), then restores it. */
  private static RecipeSpecs.Recorder run(Path dir, JobSpec spec, boolean nativeKernels) {
    String before = System.getProperty(NativeKernels.SWITCH);
    System.setProperty(NativeKernels.SWITCH, Boolean.toString(nativeKernels));
    try {
      RecipeSpecs.Recorder recorder = new RecipeSpecs.Recorder();
      RunResult result = Recipes.run(spec, new RunContext(dir, Map.of(), recorder, null));
      assertThat(result.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
      return recorder;
    } finally {
      if (before == null) {
        System.clearProperty(NativeKernels.SWITCH);
      } else {
        System.setProperty(NativeKernels.SWITCH, before);
      }
    }
  }

  private static void sameLosses(RecipeSpecs.Recorder composed, RecipeSpecs.Recorder fused) {
    assertThat(fused.steps).hasSameSizeAs(composed.steps);
    for (int i = 0; i < composed.steps.size(); i++) {
      double a = composed.steps.get(i).loss();
      double b = fused.steps.get(i).loss();
      assertThat(Math.abs(a - b) / a)
          .as("step %d: composed %.6f, native %.6f", i + 1, a, b)
          .isLessThan(1e-4);
    }
    assertThat(composed.events).noneMatch(e -> e.contains("fused native CPU kernels"));
    assertThat(fused.events)
        .anyMatch(e -> e.startsWith("precision: ") && e.contains("fused native CPU kernels"));
  }

  @Test
  void finetuneAndDistillationTrainAsOnTheComposedPath(@TempDir Path tmp) {
    JobSpec finetune =
        RecipeSpecs.aFinetune()
            .student(ModelRef.of("builtin:gemma2-tiny"))
            .dataset(RecipeSpecs.procedural(400))
            .steps(20)
            .batch(8)
            .learningRate(5e-3)
            .checkpointEvery(100)
            .keepCheckpoints(1)
            .build();
    RecipeSpecs.Recorder composedTeacher = run(tmp.resolve("ft-composed"), finetune, false);
    RecipeSpecs.Recorder nativeTeacher = run(tmp.resolve("ft-native"), finetune, true);
    sameLosses(composedTeacher, nativeTeacher);
    assertThat(nativeTeacher.steps.get(19).loss())
        .as("the finetune learnt")
        .isLessThan(0.9 * nativeTeacher.steps.get(0).loss());

    Path teacherDir = tmp.resolve("ft-composed");
    JobSpec distill =
        RecipeSpecs.aDistill()
            .teacher(ModelRef.of("file:" + lastCheckpoint(teacherDir)))
            .student(new ModelRef("builtin:gemma2-tiny", Map.of("num_hidden_layers", 1), null))
            .dataset(RecipeSpecs.procedural(400))
            .steps(10)
            .batch(8)
            .learningRate(5e-3)
            .checkpointEvery(100)
            .keepCheckpoints(1)
            .build();
    sameLosses(
        run(tmp.resolve("kd-composed"), distill, false),
        run(tmp.resolve("kd-native"), distill, true));
  }

  private static Path lastCheckpoint(Path runDir) {
    try (var dirs = java.nio.file.Files.list(runDir.resolve("checkpoints"))) {
      return dirs.filter(java.nio.file.Files::isDirectory)
          .sorted()
          .reduce((a, b) -> b)
          .orElseThrow()
          .toAbsolutePath();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
