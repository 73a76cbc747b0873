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
      NativeKernelsTest.assertClose("x2", fwd.get(0).toFloatArray(), floats(ref[0]));
      NativeKernelsTest.assertClose("y", fwd.get(1).toFloatArray(), floats(ref[1]));
      NativeKernelsTest.assertClose("rstd1", fwd.get(2).toFloatArray(), floats(ref[2]));
      NativeKernelsTest.assertClose("rstd2", fwd.get(3).toFloatArray(), floats(ref[3]));
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
        NativeKernelsTest.assertClose(names[which], bwd.get(which).toFloatArray(), floats(grad));
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
        NDArray x = m.create(NativeKernelsTest.normal(random, shape.size(), 1.5), shape);
        NDArray o = m.create(NativeKernelsTest.normal(random, shape.size(), 0.7), shape);
        NDArray w1 = m.create(NativeKernelsTest.normal(random, d, 0.3));
        NDArray w2 = m.create(NativeKernelsTest.normal(random, d, 0.3));
        NDArray dres = m.create(NativeKernelsTest.normal(random, shape.size(), 1), shape);
        NDArray dy = m.create(NativeKernelsTest.normal(random, shape.size(), 1), shape);
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
          NativeKernelsTest.assertClose(names[i] + " " + shape, got[i], ref[i]);
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
      NDArray x = NativeKernelsTest.leaf(x0, s);
      NDArray o = NativeKernelsTest.leaf(o0, s);
      NDArray w1 = NativeKernelsTest.leaf(w10, s);
      NDArray w2 = NativeKernelsTest.leaf(w20, s);
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
      // D = 0 (no division by zero in the kernel: view() refuses an empty tensor)
      NDArray empty = m.zeros(new Shape(2, 0));
      NDArray w0 = m.zeros(new Shape(0));
      assertThatThrownBy(() -> NativeKernels.addRmsNorm2Forward(empty, empty, w0, w0, EPS))
          .isInstanceOf(ai.djl.engine.EngineException.class);
      NDArray r2 = m.ones(new Shape(2, 1));
      assertThatThrownBy(
              () -> NativeKernels.addRmsNorm2Backward(empty, empty, empty, empty, w0, w0, r2, r2))
          .isInstanceOf(ai.djl.engine.EngineException.class);
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

  // ------------------------------------------------------------------ rope_qk

  /**
   * B 2, T 3, KV 2, G 2, hd 4: the forward against HF's rotate_half formula in double, written per
   * element from the head index (query head h = j G + g at row g T + t of kv head j); the backward
   * against the forward's exact transpose in double, {@code dx_i = <dy, F(e_i)>} for each basis
   * vector e_i (rope is linear), so that it does not restate the kernel's swap.
   */
  @Test
  void ropeQkMatchesTheFormulaAndItsTransposeInDouble() {
    NativeKernels.load();
    int b = 2;
    int t = 3;
    int kv = 2;
    int g = 2;
    int hd = 4;
    double scale = 0.37;
    Random random = new Random(3);
    double[] q = gaussian(random, b * t * kv * g * hd);
    double[] k = gaussian(random, b * t * kv * hd);
    double[] dqr = gaussian(random, q.length);
    double[] dkr = gaussian(random, k.length);
    float[][] tables = ropeTables(t, hd, 10000);
    try (NDManager m = manager.newSubManager()) {
      NDArray cos = m.create(tables[0], new Shape(t, hd));
      NDArray sin = m.create(tables[1], new Shape(t, hd));
      NDList fwd =
          NativeKernels.ropeQkForward(
              m.create(floats(q), new Shape(b, t, kv * g * hd)),
              m.create(floats(k), new Shape(b, t, kv * hd)),
              cos,
              sin,
              scale,
              g);
      assertThat(fwd.get(0).getShape()).isEqualTo(new Shape(b, kv, g * t, hd));
      assertThat(fwd.get(1).getShape()).isEqualTo(new Shape(b, kv, t, hd));
      NativeKernelsTest.assertClose(
          "qr", fwd.get(0).toFloatArray(), floats(ropeInDouble(q, tables, b, t, kv, g, hd, scale)));
      NativeKernelsTest.assertClose(
          "kr", fwd.get(1).toFloatArray(), floats(ropeInDouble(k, tables, b, t, kv, 1, hd, 1)));
      NDList bwd =
          NativeKernels.ropeQkBackward(
              m.create(floats(dqr), new Shape(b, kv, g * t, hd)),
              m.create(floats(dkr), new Shape(b, kv, t, hd)),
              cos,
              sin,
              scale,
              g);
      assertThat(bwd.get(0).getShape()).isEqualTo(new Shape(b, t, kv * g * hd));
      assertThat(bwd.get(1).getShape()).isEqualTo(new Shape(b, t, kv * hd));
      NativeKernelsTest.assertClose(
          "dq",
          bwd.get(0).toFloatArray(),
          floats(transposeInDouble(dqr, tables, b, t, kv, g, hd, scale)));
      NativeKernelsTest.assertClose(
          "dk",
          bwd.get(1).toFloatArray(),
          floats(transposeInDouble(dkr, tables, b, t, kv, 1, hd, 1)));
    }
  }

  /**
   * HF's rope per element: {@code y = x cos + rotate_half(x) sin}, rotate_half(x) = cat(-x2, x1),
   * with the unsigned sin (the table's second half), times scale, laid out (B, KV, G*T, hd).
   */
  private static double[] ropeInDouble(
      double[] x, float[][] tables, int b, int t, int kv, int g, int hd, double scale) {
    int half = hd / 2;
    double[] y = new double[x.length];
    for (int bi = 0; bi < b; bi++) {
      for (int ti = 0; ti < t; ti++) {
        for (int h = 0; h < kv * g; h++) {
          int j = h / g;
          int gi = h % g;
          int src = ((bi * t + ti) * kv * g + h) * hd;
          int dst = (((bi * kv + j) * g + gi) * t + ti) * hd;
          for (int i = 0; i < hd; i++) {
            double c = tables[0][ti * hd + i];
            double sn = tables[1][ti * hd + half + i % half]; // unsigned sin of frequency i % half
            double rot = i < half ? -x[src + i + half] : x[src + i - half];
            y[dst + i] = (x[src + i] * c + rot * sn) * scale;
          }
        }
      }
    }
    return y;
  }

  /** dx_i = sum_j dy_j F(e_i)_j for F = ropeInDouble (linear), i over every input element. */
  private static double[] transposeInDouble(
      double[] dy, float[][] tables, int b, int t, int kv, int g, int hd, double scale) {
    double[] dx = new double[dy.length];
    double[] e = new double[dy.length];
    for (int i = 0; i < dx.length; i++) {
      e[i] = 1;
      double[] column = ropeInDouble(e, tables, b, t, kv, g, hd, scale);
      e[i] = 0;
      for (int j = 0; j < dy.length; j++) {
        dx[i] += dy[j] * column[j];
      }
    }
    return dx;
  }

  @Test
  void ropeQkEqualsTheModelsComposedRopeAndLayoutWithAutograd() {
    NativeKernels.load();
    // {B, T, KV, G, hd}: small, odd, and the benchmark's q (8, 128, 4*64), k (8, 128, 2*64)
    int[][] cases = {{2, 3, 2, 2, 4}, {3, 5, 1, 3, 6}, {8, 128, 2, 2, 64}};
    for (int[] c : cases) {
      int b = c[0];
      int t = c[1];
      int kv = c[2];
      int g = c[3];
      int hd = c[4];
      String what = String.format("B %d T %d KV %d G %d hd %d", b, t, kv, g, hd);
      try (NDManager m = manager.newSubManager()) {
        Random random = new Random(t * 31L + hd);
        double scale = 1 / Math.sqrt(hd) / 50; // scalar^-0.5 / cap, as the model folds it
        Shape qs = new Shape(b, t, (long) kv * g * hd);
        Shape ks = new Shape(b, t, (long) kv * hd);
        NDArray q = m.create(NativeKernelsTest.normal(random, qs.size(), 1), qs);
        NDArray k = m.create(NativeKernelsTest.normal(random, ks.size(), 1), ks);
        NDArray dqr =
            m.create(
                NativeKernelsTest.normal(random, qs.size(), 1), new Shape(b, kv, (long) g * t, hd));
        NDArray dkr =
            m.create(NativeKernelsTest.normal(random, ks.size(), 1), new Shape(b, kv, t, hd));
        float[][] tables = ropeTables(t, hd, 10000);
        NDArray cos = m.create(tables[0], new Shape(1, t, 1, hd)); // the model's (1, T, 1, hd)
        NDArray sin = m.create(tables[1], new Shape(1, t, 1, hd));
        NDList fwd = NativeKernels.ropeQkForward(q, k, cos, sin, scale, g);
        NDList bwd = NativeKernels.ropeQkBackward(dqr, dkr, cos, sin, scale, g);
        float[][] ref = composedRopeQk(m, q, k, cos, sin, scale, kv, g, dqr, dkr);
        NativeKernelsTest.assertClose("qr " + what, fwd.get(0).toFloatArray(), ref[0]);
        NativeKernelsTest.assertClose("kr " + what, fwd.get(1).toFloatArray(), ref[1]);
        NativeKernelsTest.assertClose("dq " + what, bwd.get(0).toFloatArray(), ref[2]);
        NativeKernelsTest.assertClose("dk " + what, bwd.get(1).toFloatArray(), ref[3]);
      }
    }
  }

  /**
   * The model's attention prologue (Gemma2Model.attention with applyRope): reshape to heads, {@code
   * x * cos + cat(x2, x1) * sin}, q times its scale, q grouped to (B, KV, G*T, hd) and k transposed
   * to (B, KV, T, hd); the gradients of q and k by autograd from dqr and dkr.
   */
  private static float[][] composedRopeQk(
      NDManager m,
      NDArray q0,
      NDArray k0,
      NDArray cos,
      NDArray sin,
      double scale,
      int kv,
      int g,
      NDArray dqr,
      NDArray dkr) {
    long b = q0.getShape().get(0);
    long t = q0.getShape().get(1);
    long hd = cos.getShape().get(3);
    try (NDManager s = m.newSubManager();
        GradientCollector collector = Engine.getInstance().newGradientCollector()) {
      NDArray q = NativeKernelsTest.leaf(q0, s);
      NDArray k = NativeKernelsTest.leaf(k0, s);
      NDArray qh =
          applyRope(q.reshape(b, t, (long) kv * g, hd), cos, sin)
              .mul(s.full(new Shape(), (float) scale));
      NDArray qr = qh.reshape(b, t, kv, g, hd).transpose(0, 2, 3, 1, 4).reshape(b, kv, g * t, hd);
      NDArray kr = applyRope(k.reshape(b, t, kv, hd), cos, sin).transpose(0, 2, 1, 3);
      JniUtils.backward((PtNDArray) qr, (PtNDArray) dqr, false, false);
      JniUtils.backward((PtNDArray) kr, (PtNDArray) dkr, false, false);
      return new float[][] {
        qr.toFloatArray(),
        kr.toFloatArray(),
        q.getGradient().toFloatArray(),
        k.getGradient().toFloatArray()
      };
    }
  }

  /** Gemma2Model.applyRope, restated (it is private): {@code x * cos + cat(x2, x1) * sin'}. */
  private static NDArray applyRope(NDArray x, NDArray cos, NDArray sin) {
    NDList halves = x.split(2, 3); // 2 x (B, T, n, hd/2)
    NDArray swapped =
        ai.djl.ndarray.NDArrays.concat(new NDList(halves.get(1), halves.get(0)), 3); // (B,T,n,hd)
    return x.mul(cos).add(swapped.mul(sin));
  }

  /** Gemma2Model.buildRope's tables, restated (it is private): cos and signed sin, (T, hd). */
  private static float[][] ropeTables(int positions, int hd, double theta) {
    float[] cos = new float[positions * hd];
    float[] sin = new float[positions * hd];
    for (int p = 0; p < positions; p++) {
      for (int i = 0; i < hd / 2; i++) {
        float angle = (float) p * (float) (1.0 / Math.pow(theta, (2.0 * i) / hd));
        float c = (float) Math.cos(angle);
        float sn = (float) Math.sin(angle);
        cos[p * hd + i] = c;
        cos[p * hd + i + hd / 2] = c;
        sin[p * hd + i] = -sn;
        sin[p * hd + i + hd / 2] = sn;
      }
    }
    return new float[][] {cos, sin};
  }

  @Test
  void ropeQkBadInputIsAJavaException() {
    NativeKernels.load();
    try (NDManager m = manager.newSubManager()) {
      float[][] tables = ropeTables(2, 4, 10000);
      NDArray cos = m.create(tables[0], new Shape(2, 4));
      NDArray sin = m.create(tables[1], new Shape(2, 4));
      NDArray q = m.ones(new Shape(1, 2, 16)); // 4 heads of 4
      NDArray k = m.ones(new Shape(1, 2, 8)); // 2 heads of 4
      assertThat(NativeKernels.ropeQkForward(q, k, cos, sin, 1, 2).get(0).getShape())
          .isEqualTo(new Shape(1, 2, 4, 4));
      assertThatThrownBy(() -> NativeKernels.ropeQkForward(q, k, cos, sin, 1, 3))
          .hasMessageContaining("q must have H = KV * groups heads of hd");
      assertThatThrownBy(() -> NativeKernels.ropeQkForward(q, k, cos, sin, 1, 0))
          .hasMessageContaining("groups must be at least 1");
      assertThatThrownBy(
              () -> NativeKernels.ropeQkForward(q.reshape(2, 16), k.reshape(2, 8), cos, sin, 1, 2))
          .hasMessageContaining("q must be (B, T, H*hd) and k (B, T, KV*hd)");
      NDArray cos3 = m.ones(new Shape(3, 4));
      assertThatThrownBy(() -> NativeKernels.ropeQkForward(q, k, cos3, cos3, 1, 2))
          .hasMessageContaining("cos and sin must be one shape (T, hd)");
      NDArray cosOdd = m.ones(new Shape(2, 3));
      assertThatThrownBy(() -> NativeKernels.ropeQkForward(q, k, cosOdd, cosOdd, 1, 2))
          .hasMessageContaining("hd even");
      assertThatThrownBy(
              () ->
                  NativeKernels.ropeQkForward(q.toType(DataType.FLOAT64, false), k, cos, sin, 1, 2))
          .hasMessageContaining("tensor arguments must be float32");
      NDArray dqr = m.ones(new Shape(1, 2, 4, 4));
      NDArray dkr = m.ones(new Shape(1, 2, 2, 4));
      assertThat(NativeKernels.ropeQkBackward(dqr, dkr, cos, sin, 1, 2).get(0).getShape())
          .isEqualTo(new Shape(1, 2, 16));
      assertThatThrownBy(() -> NativeKernels.ropeQkBackward(dqr, dkr, cos, sin, 1, 1))
          .hasMessageContaining("dqr must be (B, KV, groups*T, hd) and dkr (B, KV, T, hd)");
      assertThatThrownBy(() -> NativeKernels.ropeQkBackward(dqr, dkr, cos3, cos3, 1, 2))
          .hasMessageContaining("cos and sin must be one shape (T, hd)");
    }
  }

  /**
   * The shim hands each tensor argument to the kernel as a new handle the kernel must delete; a
   * kernel that kept them would keep every input alive (200 calls on fresh inputs of 4 + 2 MiB,
   * resp. 4 + 4 MiB: 2.3 GiB).
   */
  @Test
  void layerKernelsReleaseTheirInputs() throws java.io.IOException {
    NativeKernels.load();
    float[][] tables = ropeTables(128, 256, 10000);
    try (NDManager tm = manager.newSubManager()) {
      NDArray cos = tm.create(tables[0], new Shape(128, 256));
      NDArray sin = tm.create(tables[1], new Shape(128, 256));
      NDArray w = tm.zeros(new Shape(1024));
      long before = 0;
      for (int i = 0; i < 220; i++) {
        if (i == 20) {
          before = NativeKernelsTest.residentKib(); // after warm-up: allocator pools filled
        }
        try (NDManager m = tm.newSubManager()) {
          NDArray q = m.randomNormal(new Shape(8, 128, 1024));
          NDArray k = m.randomNormal(new Shape(8, 128, 512));
          NativeKernels.ropeQkForward(q, k, cos, sin, 0.1, 2);
          NativeKernels.addRmsNorm2Forward(q, m.randomNormal(new Shape(8, 128, 1024)), w, w, EPS);
        }
      }
      long grownMib = (NativeKernelsTest.residentKib() - before) / 1024;
      assertThat(grownMib).as("resident memory growth over 200 calls, MiB").isLessThan(400);
    }
  }

  // ------------------------------------------------------------------ helpers

  private static float[] floats(double[] a) {
    float[] out = new float[a.length];
    for (int i = 0; i < a.length; i++) {
      out[i] = (float) a[i];
    }
    return out;
  }

  private static double[] gaussian(Random random, int n) {
    double[] out = new double[n];
    for (int i = 0; i < n; i++) {
      out[i] = random.nextGaussian();
    }
    return out;
  }
}
