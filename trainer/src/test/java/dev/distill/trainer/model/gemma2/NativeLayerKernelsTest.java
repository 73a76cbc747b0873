package dev.distill.trainer.model.gemma2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import dev.distill.trainer.fused.NativeKernels;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The decoder layer's native kernels of the C-shim library (docs/benchmarks.md, "Fused CPU kernels
 * through libtorch's C shim: spike"): the post-norm + residual + next pre-norm pair and rope on q
 * and k with the attention's head layout, forward and backward, against values computed in double
 * and against the model's composed ops with autograd. Needs the library built by {@code
 * trainer/src/main/native/build.sh}; without it every test fails with what to do (none skips).
 */
class NativeLayerKernelsTest {

  private static final double EPS = 1e-6; // rms_norm_eps of every preset

  private static NDManager manager;
  private static Gemma2Model model;

  @BeforeAll
  static void setUp() {
    manager = NDManager.newBaseManager("PyTorch");
    model =
        Gemma2Model.init(
            Gemma2Config.preset("gemma2-tiny")
                .withOverrides(Map.of("num_hidden_layers", 1, "vocab_size", 16)),
            manager,
            1);
    assertThat(model.config().rmsNormEps()).isEqualTo(EPS);
  }

  @AfterAll
  static void tearDown() {
    model.close();
    manager.close();
  }

  // ------------------------------------------------------------------ add_rms_norm2

  /**
   * (2, 4): a general row and a row whose o is zero (rstd1 = 1 / sqrt(eps), x2 = x). The forward in
   * double from the formula; the backward against central differences in double of {@code L =
   * sum(dres x2) + sum(dy y)}, so that it does not restate the kernel's derivation.
   */
  @Test
  void addRmsNorm2MatchesValuesAndFiniteDifferencesInDouble() {
    NativeKernels.load();
    double[] xs = {0.5, -1, 2, 0.25, 1, 2, -3, 0.5};
    double[] os = {1, -2, 3, 0.5, 0, 0, 0, 0};
    double[] w1s = {0, 0.5, -0.5, 1};
    double[] w2s = {0.2, -0.1, 0.3, -0.4};
    double[] dres = {1, 2, -1, 0.5, -1, 0.5, 2, 1};
    double[] dys = {0.5, -1, 1.5, 2, 1, -1, 2, 3};
    try (NDManager m = manager.newSubManager()) {
      NDArray x = m.create(floats(xs), new Shape(2, 4));
      NDArray o = m.create(floats(os), new Shape(2, 4));
      NDArray w1 = m.create(floats(w1s));
      NDArray w2 = m.create(floats(w2s));
      NDList fwd = NativeKernels.addRmsNorm2Forward(x, o, w1, w2, EPS);
      assertThat(fwd).hasSize(4);
      assertThat(fwd.get(2).getShape()).isEqualTo(new Shape(2, 1));
      assertThat(fwd.get(3).getShape()).isEqualTo(new Shape(2, 1));
      double[][] ref = addRmsNorm2InDouble(xs, os, w1s, w2s, 4);
      assertClose("x2", fwd.get(0).toFloatArray(), floats(ref[0]));
      assertClose("y", fwd.get(1).toFloatArray(), floats(ref[1]));
      assertClose("rstd1", fwd.get(2).toFloatArray(), floats(ref[2]));
      assertClose("rstd2", fwd.get(3).toFloatArray(), floats(ref[3]));
      assertThat((double) fwd.get(2).toFloatArray()[1])
          .as("rstd1 of the zero row")
          .isCloseTo(1 / Math.sqrt(EPS), org.assertj.core.api.Assertions.offset(1e-2));
      NDList bwd =
          NativeKernels.addRmsNorm2Backward(
              m.create(floats(dres), new Shape(2, 4)),
              m.create(floats(dys), new Shape(2, 4)),
              o,
              fwd.get(0),
              w1,
              w2,
              fwd.get(2),
              fwd.get(3));
      double[][] inputs = {xs, os, w1s, w2s};
      String[] names = {"dx", "do", "dw1", "dw2"};
      for (int which = 0; which < 4; which++) {
        double[] grad = new double[inputs[which].length];
        for (int i = 0; i < grad.length; i++) {
          double keep = inputs[which][i];
          double h = 1e-6;
          inputs[which][i] = keep + h;
          double up = surrogate(inputs, dres, dys);
          inputs[which][i] = keep - h;
          double down = surrogate(inputs, dres, dys);
          inputs[which][i] = keep;
          grad[i] = (up - down) / (2 * h);
        }
        assertClose(names[which], bwd.get(which).toFloatArray(), floats(grad));
      }
    }
  }

  /** sum(dres x2) + sum(dy y) in double, inputs {x, o, w1, w2}. */
  private static double surrogate(double[][] in, double[] dres, double[] dy) {
    double[][] f = addRmsNorm2InDouble(in[0], in[1], in[2], in[3], in[2].length);
    double s = 0;
    for (int i = 0; i < dres.length; i++) {
      s += dres[i] * f[0][i] + dy[i] * f[1][i];
    }
    return s;
  }

  /** x2, y, rstd1, rstd2 in double from the formula. */
  private static double[][] addRmsNorm2InDouble(
      double[] x, double[] o, double[] w1, double[] w2, int d) {
    int rows = x.length / d;
    double[] x2 = new double[x.length];
    double[] y = new double[x.length];
    double[] r1 = new double[rows];
    double[] r2 = new double[rows];
    for (int r = 0; r < rows; r++) {
      double ms = 0;
      for (int i = 0; i < d; i++) {
        ms += o[r * d + i] * o[r * d + i] / d;
      }
      r1[r] = 1 / Math.sqrt(ms + EPS);
      double ms2 = 0;
      for (int i = 0; i < d; i++) {
        x2[r * d + i] = x[r * d + i] + o[r * d + i] * r1[r] * (1 + w1[i]);
        ms2 += x2[r * d + i] * x2[r * d + i] / d;
      }
      r2[r] = 1 / Math.sqrt(ms2 + EPS);
      for (int i = 0; i < d; i++) {
        y[r * d + i] = x2[r * d + i] * r2[r] * (1 + w2[i]);
      }
    }
    return new double[][] {x2, y, r1, r2};
  }

  @Test
  void addRmsNorm2EqualsTheModelsComposedNormsWithAutograd() {
    NativeKernels.load();
    for (Shape shape : new Shape[] {new Shape(2, 3, 8), new Shape(5, 37), new Shape(8, 128, 256)}) {
      try (NDManager m = manager.newSubManager()) {
        Random random = new Random(shape.size());
        long d = shape.get(shape.dimension() - 1);
        NDArray x = m.create(normal(random, shape.size(), 1.5), shape);
        NDArray o = m.create(normal(random, shape.size(), 0.7), shape);
        NDArray w1 = m.create(normal(random, d, 0.3));
        NDArray w2 = m.create(normal(random, d, 0.3));
        NDArray dres = m.create(normal(random, shape.size(), 1), shape);
        NDArray dy = m.create(normal(random, shape.size(), 1), shape);
        NDList fwd = NativeKernels.addRmsNorm2Forward(x, o, w1, w2, EPS);
        NDList bwd =
            NativeKernels.addRmsNorm2Backward(
                dres, dy, o, fwd.get(0), w1, w2, fwd.get(2), fwd.get(3));
        float[][] ref = composedAddRmsNorm2(m, x, o, w1, w2, dres, dy);
        String[] names = {"x2", "y", "dx", "do", "dw1", "dw2"};
        float[][] got = {
          fwd.get(0).toFloatArray(),
          fwd.get(1).toFloatArray(),
          bwd.get(0).toFloatArray(),
          bwd.get(1).toFloatArray(),
          bwd.get(2).toFloatArray(),
          bwd.get(3).toFloatArray()
        };
        for (int i = 0; i < names.length; i++) {
          assertClose(names[i] + " " + shape, got[i], ref[i]);
        }
      }
    }
  }

  /**
   * x2, y and the gradients of x, o, w1, w2 of the model's composed {@code x2 = x + rmsNorm(o, w1);
   * y = rmsNorm(x2, w2)}, by autograd from dres injected at x2 and dy at y.
   */
  private static float[][] composedAddRmsNorm2(
      NDManager m, NDArray x0, NDArray o0, NDArray w10, NDArray w20, NDArray dres, NDArray dy) {
    try (NDManager s = m.newSubManager();
        GradientCollector collector = Engine.getInstance().newGradientCollector()) {
      NDArray x = leaf(x0, s);
      NDArray o = leaf(o0, s);
      NDArray w1 = leaf(w10, s);
      NDArray w2 = leaf(w20, s);
      NDArray x2 = x.add(model.rmsNorm(o, w1));
      NDArray y = model.rmsNorm(x2, w2);
      JniUtils.backward((PtNDArray) x2, (PtNDArray) dres, true, false); // keep: y's graph uses it
      JniUtils.backward((PtNDArray) y, (PtNDArray) dy, false, false);
      return new float[][] {
        x2.toFloatArray(),
        y.toFloatArray(),
        x.getGradient().toFloatArray(),
        o.getGradient().toFloatArray(),
        w1.getGradient().toFloatArray(),
        w2.getGradient().toFloatArray()
      };
    }
  }

  @Test
  void addRmsNorm2BadInputIsAJavaException() {
    NativeKernels.load();
    try (NDManager m = manager.newSubManager()) {
      NDArray x = m.ones(new Shape(2, 4));
      NDArray w = m.zeros(new Shape(4));
      NDArray xi = m.create(new int[] {1, 2, 3, 4, 5, 6, 7, 8}, new Shape(2, 4));
      assertThatThrownBy(() -> NativeKernels.addRmsNorm2Forward(x, xi, w, w, EPS))
          .hasMessageContaining("tensor arguments must be float32");
      assertThatThrownBy(
              () -> NativeKernels.addRmsNorm2Forward(x, m.ones(new Shape(4, 2)), w, w, EPS))
          .hasMessageContaining("x and o must be one shape");
      assertThatThrownBy(
              () -> NativeKernels.addRmsNorm2Forward(x, x, w, m.zeros(new Shape(3)), EPS))
          .hasMessageContaining("w1 and w2 must have D = x.size(-1) elements");
      NDList fwd = NativeKernels.addRmsNorm2Forward(x, x, w, w, EPS);
      assertThatThrownBy(
              () ->
                  NativeKernels.addRmsNorm2Backward(
                      x, x, x, fwd.get(0), w, w, fwd.get(2), m.ones(new Shape(3, 1))))
          .hasMessageContaining("rstd1 and rstd2 must have one value per row");
      assertThatThrownBy(
              () ->
                  NativeKernels.addRmsNorm2Backward(
                      x, m.ones(new Shape(2, 5)), x, fwd.get(0), w, w, fwd.get(2), fwd.get(3)))
          .hasMessageContaining("dres, dy, o and x2 must be one shape");
      assertThatThrownBy(
              () ->
                  NativeKernels.addRmsNorm2Backward(
                      x,
                      x.toType(DataType.FLOAT64, false),
                      x,
                      fwd.get(0),
                      w,
                      w,
                      fwd.get(2),
                      fwd.get(3)))
          .hasMessageContaining("tensor arguments must be float32");
    }
  }

  // ------------------------------------------------------------------ helpers

  /** A fresh leaf on a's data, with a gradient of its own. */
  private static NDArray leaf(NDArray a, NDManager m) {
    NDArray l = a.stopGradient();
    l.attach(m);
    l.setRequiresGradient(true);
    return l;
  }

  /** Within 1e-5 of the reference, relative to the reference's largest magnitude. */
  private static void assertClose(String what, float[] got, float[] ref) {
    assertThat(got).as(what + ": length").hasSameSizeAs(ref);
    double scale = 0;
    double worst = 0;
    int at = -1;
    for (int i = 0; i < ref.length; i++) {
      scale = Math.max(scale, Math.abs(ref[i]));
      double diff = Math.abs((double) got[i] - ref[i]);
      if (diff > worst || Double.isNaN(diff)) {
        worst = diff;
        at = i;
      }
    }
    assertThat(worst / scale)
        .as(
            "%s: worst difference %g at %d (%g against %g), scale %g",
            what, worst, at, at < 0 ? 0 : got[at], at < 0 ? 0 : ref[at], scale)
        .isLessThanOrEqualTo(1e-5);
  }

  private static float[] floats(double[] a) {
    float[] out = new float[a.length];
    for (int i = 0; i < a.length; i++) {
      out[i] = (float) a[i];
    }
    return out;
  }

  private static float[] normal(Random random, long n, double sigma) {
    float[] out = new float[Math.toIntExact(n)];
    for (int i = 0; i < out.length; i++) {
      out[i] = (float) (random.nextGaussian() * sigma);
    }
    return out;
  }
}
