package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distill.spec.ModelRef;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bf16-mixed training (bf16 matmuls inside TorchScript, fp32 master weights, optimizer state, loss
 * and softmax) against fp32 on the same model, data and seed: the loss curves end together.
 */
class PrecisionTrainingTest {

  static final int STEPS = 100;

  /** A 100-step finetune of gemma2-tiny (2 layers, hidden 64) on procedural data. */
  private static RecipeSpecs.Recorder train(Path dir, String precision) {
    RecipeSpecs.Recorder recorder = new RecipeSpecs.Recorder();
    Recipes.run(
        RecipeSpecs.aFinetune()
            .student(ModelRef.of("builtin:gemma2-tiny"))
            .steps(STEPS)
            .batch(4)
            .learningRate(3e-3)
            .checkpointEvery(STEPS)
            .precision(precision)
            .build(),
        new RunContext(dir, Map.of(), recorder, null));
    return recorder;
  }

  private static double lastTen(RecipeSpecs.Recorder r) {
    return r.steps.subList(STEPS - 10, STEPS).stream()
        .mapToDouble(s -> s.loss())
        .average()
        .orElseThrow();
  }

  private static double medianStepMs(RecipeSpecs.Recorder r) {
    double[] ms = r.steps.stream().mapToDouble(s -> s.stepSeconds() * 1e3).sorted().toArray();
    return ms[ms.length / 2];
  }

  @Test
  void bf16MixedEndsWithinTwoPercentOfFp32(@TempDir Path tmp) {
    RecipeSpecs.Recorder fp32 = train(tmp.resolve("fp32"), null); // the CPU's default
    RecipeSpecs.Recorder mixed = train(tmp.resolve("mixed"), "bf16-mixed");
    assertThat(fp32.events)
        .anyMatch(e -> e.startsWith("precision: precision fp32 (the default on"));
    assertThat(mixed.events).contains("precision: precision bf16-mixed");
    double first = fp32.steps.get(0).loss();
    double a = lastTen(fp32);
    double b = lastTen(mixed);
    assertThat(a).as("fp32 learnt something").isLessThan(0.8 * first);
    assertThat(Math.abs(b - a) / a)
        .as("bf16-mixed %.5f vs fp32 %.5f (first step %.5f)", b, a, first)
        .isLessThan(0.02);
    assertThat(b).as("bf16 is not fp32 in disguise").isNotEqualTo(a);
    // for docs/benchmarks.md (not asserted: no timings in tests)
    System.out.printf(
        "precision benchmark: last-10 loss fp32 %.5f bf16-mixed %.5f; median step fp32 %.1f ms,"
            + " bf16-mixed %.1f ms%n",
        a, b, medianStepMs(fp32), medianStepMs(mixed));
  }

  /**
   * Pure bf16 against fp32 with the same settings, clipping off in both (pure bf16 cannot clip).
   * The bound is issue 11's 2% for bf16-mixed: pure bf16 also rounds every update to bf16 (an
   * update below half a weight's unit in the last place is lost), yet at this learning rate (3e-3,
   * to 3e-4 at the end, against weights of about 0.02 whose bf16 unit is 1.2e-4) updates survive
   * rounding; measured 0.03% (docs/gpu.md). Deterministic: same seed, same CPU kernels.
   */
  @Test
  void pureBf16EndsWithinTwoPercentOfFp32(@TempDir Path tmp) {
    RecipeSpecs.Recorder fp32 = trainUnclipped(tmp.resolve("fp32"), "fp32");
    RecipeSpecs.Recorder pure = trainUnclipped(tmp.resolve("bf16"), "bf16");
    assertThat(pure.events).contains("precision: precision bf16");
    double first = fp32.steps.get(0).loss();
    double a = lastTen(fp32);
    double b = lastTen(pure);
    assertThat(a).as("fp32 learnt something").isLessThan(0.8 * first);
    assertThat(Math.abs(b - a) / a)
        .as("bf16 %.5f vs fp32 %.5f (first step %.5f)", b, a, first)
        .isLessThan(0.02);
    assertThat(b).as("bf16 is not fp32 in disguise").isNotEqualTo(a);
    assertThat(pure.steps.get(0).gradNorm()).as("the norm is reported, unclipped").isPositive();
    System.out.printf(
        "precision benchmark: last-10 loss unclipped fp32 %.5f bf16 %.5f (%.2f%%); median step"
            + " fp32 %.1f ms, bf16 %.1f ms%n",
        a, b, 100 * Math.abs(b - a) / a, medianStepMs(fp32), medianStepMs(pure));
  }

  private static RecipeSpecs.Recorder trainUnclipped(Path dir, String precision) {
    RecipeSpecs.Recorder recorder = new RecipeSpecs.Recorder();
    Recipes.run(
        RecipeSpecs.aFinetune()
            .student(ModelRef.of("builtin:gemma2-tiny"))
            .steps(STEPS)
            .batch(4)
            .learningRate(3e-3)
            .gradClip(0)
            .checkpointEvery(STEPS)
            .precision(precision)
            .build(),
        new RunContext(dir, Map.of(), recorder, null));
    return recorder;
  }

  @Test
  void pureBf16WithClippingIsRefusedByTheSpecNamingTheField() {
    assertThatThrownBy(
            () ->
                RecipeSpecs.aFinetune()
                    .student(ModelRef.of("builtin:gemma2-tiny"))
                    .precision("bf16")
                    .gradClip(1.0)
                    .build())
        .hasMessageContaining("hyperparameters.grad_clip")
        .hasMessageContaining("precision bf16");
  }
}
