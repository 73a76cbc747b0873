package dev.distill.trainer.model.gemma2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.offset;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.distill.trainer.model.NoGrad;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The native path ({@link Gemma2Model#setNativeKernels}: fused C kernels, the backward by hand)
 * against the composed path with autograd: a distillation step's loss and every student gradient,
 * and the teacher's forward without autograd, on {@link DistillStep}'s grouped-query, soft-capped
 * models with its first row packing two documents. Their weights, norms included, are perturbed
 * from the init so that every term of every kernel counts (the init's zero norm weights would hide
 * a wrong {@code 1 + w}).
 */
class NativePathTest {

  private DistillStep batch;

  @BeforeEach
  void open() {
    batch = new DistillStep(true);
    assertThat(batch.student.config().attnLogitSoftcapping()).isNotNull();
    assertThat(batch.student.config().groupSize()).isGreaterThan(1);
    perturb(batch.student, 11);
    perturb(batch.teacher, 12);
  }

  @AfterEach
  void close() {
    batch.close();
  }

  /** Adds N(0, 0.1^2) noise to every weight. */
  private void perturb(Gemma2Model model, long seed) {
    Random r = new Random(seed);
    try (NoGrad ignored = NoGrad.enter()) {
      for (NDArray p : model.parameters().values()) {
        float[] noise = new float[(int) p.getShape().size()];
        for (int i = 0; i < noise.length; i++) {
          noise[i] = (float) (0.1 * r.nextGaussian());
        }
        try (NDArray n = batch.manager.create(noise, p.getShape())) {
          p.addi(n);
        }
      }
    }
  }

  private Map<String, float[]> step(boolean nativeKernels, int passes, float[] lossOut) {
    batch.student.setNativeKernels(nativeKernels);
    batch.teacher.setNativeKernels(nativeKernels);
    return batch.gradients(passes, lossOut);
  }

  /** Asserts every gradient of b equals scale times a's within tolerance of a's largest. */
  private static void sameGradients(
      Map<String, float[]> a, Map<String, float[]> b, double scale, double tolerance) {
    assertThat(b.keySet()).isEqualTo(a.keySet());
    for (String name : a.keySet()) {
      float[] x = a.get(name);
      float[] y = b.get(name);
      double norm = 0;
      double worst = 0;
      for (int i = 0; i < x.length; i++) {
        norm = Math.max(norm, Math.abs(x[i]));
        worst = Math.max(worst, Math.abs(scale * x[i] - y[i]));
      }
      assertThat(norm).as("%s has a gradient", name).isGreaterThan(0);
      assertThat(worst / norm)
          .as("%s: largest difference relative to the largest gradient", name)
          .isLessThan(tolerance);
    }
  }

  @Test
  void nativeGradientsEqualTheComposedOnes() {
    float[] composedLoss = new float[1];
    float[] nativeLoss = new float[1];
    Map<String, float[]> composed = step(false, 1, composedLoss);
    Map<String, float[]> fused = step(true, 1, nativeLoss);
    assertThat(nativeLoss[0]).isCloseTo(composedLoss[0], offset(1e-5f));
    sameGradients(composed, fused, 1, 2e-5);
  }

  @Test
  void aSecondPassAddsToTheGradientsTheFirstMade() {
    // the first native backward creates the gradients of the layers' weights; a second one (no
    // zeroing between: gradient accumulation over micro-batches) must add to them
    float[] loss = new float[1];
    Map<String, float[]> once = step(true, 1, loss);
    Map<String, float[]> twice = step(true, 2, loss);
    sameGradients(once, twice, 2, 1e-5);
  }

  @Test
  void aForwardWithoutAutogradEqualsTheComposedOneAndKeepsNothing() {
    Gemma2Model teacher = batch.teacher;
    try (NDManager step = batch.manager.newSubManager()) {
      float[] composed;
      float[] fused;
      try (NoGrad ignored = NoGrad.enter()) {
        teacher.setNativeKernels(false);
        composed = teacher.hidden(batch.ids, batch.attention).toFloatArray();
        teacher.setNativeKernels(true);
        fused = teacher.hidden(batch.ids, batch.attention).toFloatArray();
      }
      // the real positions as on the composed path; the padded ones (the second row's last 3)
      // zero: the native path computes no token-wise work for them
      float[] attention = batch.attention.toFloatArray(); // (B, T)
      int d = composed.length / attention.length;
      double norm = 0;
      double worst = 0;
      int padded = 0;
      for (int i = 0; i < composed.length; i++) {
        if (attention[i / d] == 0) {
          padded++;
          assertThat(fused[i]).as("hidden state %d at a padded position", i).isZero();
          continue;
        }
        norm = Math.max(norm, Math.abs(composed[i]));
        worst = Math.max(worst, Math.abs(composed[i] - fused[i]));
      }
      assertThat(padded).isEqualTo(3 * d);
      assertThat(worst / norm).isLessThan(1e-5);
      teacher.finishBackward(); // nothing pending: no effect, no error
    }
  }
}
