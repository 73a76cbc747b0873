package dev.distill.trainer.model.gemma2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.offset;

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
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The C-shim kernels' check (docs/benchmarks.md, "Fused CPU kernels through libtorch's C shim:
 * spike"): the native RMSNorm, GeGLU and soft-capped softmax forward and backward ops, called from
 * TorchScript on DJL tensors, against hand-computed values and against the model's composed ops
 * with autograd.
 *
 * <p>In the default Surefire run: the trainer's build compiles the library with gcc into
 * target/classes (trainer/src/main/native/build.sh), and {@link NativeKernels#load()} loads it from
 * there. Without it (built without gcc, a CPU without AVX2/FMA, {@code
 * -Ddistill.native_kernels=false}) every test fails with the reason; none skips, so a libtorch
 * whose shim moved fails here.
 */
class NativeKernelsTest {

  private static final double EPS = 1e-6; // rms_norm_eps of every preset
  private static final double C = Math.sqrt(2 / Math.PI);

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

  @Test
  void libraryLoadsIntoDjlsProcessAndSharesLibtorchsOpenMpRuntime() throws IOException {
    Path lib = NativeKernels.load();
    Set<String> gomps = new TreeSet<>();
    Set<String> ours = new TreeSet<>();
    for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
      int slash = line.indexOf('/');
      if (slash >= 0 && line.contains("libgomp")) {
        gomps.add(line.substring(slash));
      }
      if (slash >= 0 && line.contains("libdistill_ops")) {
        ours.add(line.substring(slash));
      }
    }
    assertThat(ours)
        .as("the library mapped once, from where load() says")
        .containsExactly(lib.toString());
    assertThat(gomps).as("one OpenMP runtime in the process: DJL's").hasSize(1);
    assertThat(gomps.iterator().next()).contains(".djl.ai");
  }

  @Test
  void rmsNormMatchesHandComputedValuesAndDerivatives() {
    NativeKernels.load();
    // Two rows of D = 4; the second is zero (rstd = 1 / sqrt(eps), y = 0, dx = rstd * dy (1 + w)).
    float[] xs = {1f, -2f, 3f, 0.5f, 0f, 0f, 0f, 0f};
    float[] ws = {0f, 0.5f, -0.5f, 1f};
    float[] dys = {1f, 2f, -1f, 0.5f, 1f, -1f, 2f, 3f};
    try (NDManager m = manager.newSubManager()) {
      NDArray x = m.create(xs, new Shape(2, 4));
      NDArray w = m.create(ws);
      NDArray dy = m.create(dys, new Shape(2, 4));
      NDList fwd = NativeKernels.rmsNormForward(x, w, EPS);
      NDList bwd = NativeKernels.rmsNormBackward(dy, x, w, fwd.get(1));
      assertThat(fwd.get(1).getShape()).isEqualTo(new Shape(2, 1));
      float[] y = fwd.get(0).toFloatArray();
      float[] rstd = fwd.get(1).toFloatArray();
      float[] dx = bwd.get(0).toFloatArray();
      float[] dw = bwd.get(1).toFloatArray();
      double[] dwExpected = new double[4];
      for (int row = 0; row < 2; row++) {
        double ms = 0;
        for (int i = 0; i < 4; i++) {
          ms += (double) xs[4 * row + i] * xs[4 * row + i] / 4;
        }
        double r = 1 / Math.sqrt(ms + EPS);
        assertThat((double) rstd[row]).as("rstd[%d]", row).isCloseTo(r, offset(1e-6 * r));
        // d/dx_i of sum_j dy_j x_j r (1 + w_j) = r g_i - r^3 / D (sum_j g_j x_j) x_i, g = dy (1 +
        // w)
        double gx = 0;
        for (int i = 0; i < 4; i++) {
          gx += dys[4 * row + i] * (1 + ws[i]) * xs[4 * row + i];
        }
        for (int i = 0; i < 4; i++) {
          int k = 4 * row + i;
          assertThat((double) y[k]).as("y[%d]", k).isCloseTo(xs[k] * r * (1 + ws[i]), offset(1e-6));
          double g = dys[k] * (1 + ws[i]);
          double dxExpected = r * g - r * r * r / 4 * gx * xs[k];
          assertThat((double) dx[k])
              .as("dx[%d]", k)
              .isCloseTo(dxExpected, offset(1e-5 * Math.max(1, Math.abs(dxExpected))));
          dwExpected[i] += dys[k] * xs[k] * r;
        }
      }
      for (int i = 0; i < 4; i++) {
        assertThat((double) dw[i]).as("dw[%d]", i).isCloseTo(dwExpected[i], offset(1e-6));
      }
    }
  }

  @Test
  void rmsNormEqualsTheComposedNormWithAutograd() {
    NativeKernels.load();
    for (Shape shape : new Shape[] {new Shape(2, 3, 8), new Shape(5, 37), new Shape(8, 128, 256)}) {
      try (NDManager m = manager.newSubManager()) {
        Random random = new Random(shape.size());
        long d = shape.get(shape.dimension() - 1);
        NDArray x = m.create(normal(random, shape.size(), 1.5), shape);
        NDArray w = m.create(normal(random, d, 0.3));
        NDArray dy = m.create(normal(random, shape.size(), 1), shape);
        NDList fwd = NativeKernels.rmsNormForward(x, w, EPS);
        NDList bwd = NativeKernels.rmsNormBackward(dy, x, w, fwd.get(1));
        float[][] ref = composedRmsNorm(m, x, w, dy);
        assertClose("y " + shape, fwd.get(0).toFloatArray(), ref[0]);
        assertClose("dx " + shape, bwd.get(0).toFloatArray(), ref[1]);
        assertClose("dw " + shape, bwd.get(1).toFloatArray(), ref[2]);
      }
    }
  }

  /**
   * The manual backward a product would run: the native norm between two differentiable ops cuts
   * the graph (its output a fresh leaf); the segment above is back-propagated, the native backward
   * takes the leaf's gradient, its dx goes into the segment below and its dw into w's gradient by
   * hand. The gradients of x and w equal one autograd backward through the composed norm.
   */
  @Test
  void aGraphCutAtTheNativeNormGivesTheComposedGradients() {
    NativeKernels.load();
    Shape shape = new Shape(8, 128, 256);
    try (NDManager m = manager.newSubManager()) {
      Random random = new Random(7);
      NDArray x0 = m.create(normal(random, shape.size(), 1), shape);
      NDArray w0 = m.create(normal(random, 256, 0.3));
      NDArray a = m.create(normal(random, shape.size(), 1), shape); // below the norm: u = x a
      NDArray b = m.create(normal(random, shape.size(), 1), shape); // above it: v = y b
      NDArray dv = m.create(normal(random, shape.size(), 1), shape);
      float[] dxComposed;
      float[] dwComposed;
      try (NDManager s = m.newSubManager();
          GradientCollector collector = Engine.getInstance().newGradientCollector()) {
        NDArray x = leaf(x0, s);
        NDArray w = leaf(w0, s);
        NDArray v = model.rmsNorm(x.mul(a), w).mul(b); // (8, 128, 256)
        JniUtils.backward((PtNDArray) v, (PtNDArray) dv, false, false);
        dxComposed = x.getGradient().toFloatArray();
        dwComposed = w.getGradient().toFloatArray();
      }
      try (NDManager s = m.newSubManager();
          GradientCollector collector = Engine.getInstance().newGradientCollector()) {
        NDArray x = leaf(x0, s);
        NDArray w = leaf(w0, s);
        NDArray u = x.mul(a); // (8, 128, 256) with its graph to x
        NDList fwd = NativeKernels.rmsNormForward(u, w, EPS);
        NDArray y = leaf(fwd.get(0), s); // the cut
        NDArray v = y.mul(b);
        JniUtils.backward((PtNDArray) v, (PtNDArray) dv, false, false); // the segment above
        NDList bwd = NativeKernels.rmsNormBackward(y.getGradient(), u, w, fwd.get(1));
        JniUtils.backward((PtNDArray) u, (PtNDArray) bwd.get(0), false, false); // below
        NDArray dw = s.zeros(new Shape(256)).addi(bwd.get(1)); // w's gradient, by hand
        assertClose("dx through the cut", x.getGradient().toFloatArray(), dxComposed);
        assertClose("dw through the cut", dw.toFloatArray(), dwComposed);
      }
    }
  }

  @Test
  void softcapSoftmaxEqualsTheComposedAttentionProbabilitiesWithAutograd() {
    NativeKernels.load();
    double cap = 50; // attn_logit_softcapping of Gemma 2
    long b = 8;
    long kv = 2;
    long g = 2;
    long t = 128;
    try (NDManager m = manager.newSubManager()) {
      Random random = new Random(11);
      Shape shape = new Shape(b, kv, g * t, t);
      // scores / cap: logits up to about +-150 before the cap, so the tanh saturates in places
      NDArray s = m.create(normal(random, shape.size(), 1.0), shape);
      NDArray dp = m.create(normal(random, shape.size(), 1), shape);
      NDArray causal = model.causalMask(0, t, t, 0); // (T, S) 0 or -1e9, no window
      float[] keep = new float[(int) (b * t * t)]; // (B, 1, 1, T, S): packed documents
      for (int i = 0; i < keep.length; i++) {
        int row = (i / (int) t) % (int) t;
        int col = i % (int) t;
        boolean sameDoc = (row < 50) == (col < 50);
        keep[i] = col <= row && sameDoc ? 0f : -1e9f;
      }
      NDArray packed = m.create(keep, new Shape(b, 1, 1, t, t));
      for (NDArray mask : new NDArray[] {causal, packed}) {
        NDArray p = NativeKernels.softcapSoftmaxForward(s, mask, cap);
        NDArray ds = NativeKernels.softcapSoftmaxBackward(dp, p, s, cap);
        float[][] ref = composedSoftcapSoftmax(m, s, mask, dp, cap, g, t);
        assertClose("p, mask " + mask.getShape(), p.toFloatArray(), ref[0]);
        assertClose("ds, mask " + mask.getShape(), ds.toFloatArray(), ref[1]);
      }
    }
  }

  /** The model's composed attention probabilities and, by autograd from dp, their ds. */
  private static float[][] composedSoftcapSoftmax(
      NDManager m, NDArray s0, NDArray mask, NDArray dp, double cap, long g, long t) {
    Shape shape = s0.getShape();
    try (NDManager sub = m.newSubManager();
        GradientCollector collector = Engine.getInstance().newGradientCollector()) {
      NDArray s = leaf(s0, sub);
      NDArray capArray = sub.full(new Shape(), (float) cap);
      NDArray p =
          s.tanh()
              .mul(capArray)
              .reshape(shape.get(0), shape.get(1), g, t, shape.get(3))
              .add(mask) // (T, S) or (B, 1, 1, T, S), broadcast
              .softmax(-1)
              .reshape(shape);
      JniUtils.backward((PtNDArray) p, (PtNDArray) dp, false, false);
      try (NDArray ds = s.getGradient()) {
        return new float[][] {p.toFloatArray(), ds.toFloatArray()};
      }
    }
  }

  /** A fresh leaf on a's data, with a gradient of its own. */
  static NDArray leaf(NDArray a, NDManager m) {
    NDArray l = a.stopGradient();
    l.attach(m);
    l.setRequiresGradient(true);
    return l;
  }

  @Test
  void gegluMatchesHandComputedValuesAndDerivatives() {
    NativeKernels.load();
    float[] gates = {-12f, -4f, -1.5f, -0.3f, 0f, 0.2f, 1f, 2.5f, 6f, 15f};
    float[] ups = {2f, 0.5f, -2f, 3f, 1f, -0.7f, 1.5f, 2f, -1f, 0.25f};
    float[] douts = {1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f, 9f, 10f};
    try (NDManager m = manager.newSubManager()) {
      NDArray gate = m.create(gates, new Shape(2, 5));
      NDArray up = m.create(ups, new Shape(2, 5));
      NDArray dout = m.create(douts, new Shape(2, 5));
      float[] out = NativeKernels.gegluForward(gate, up).toFloatArray();
      NDList grads = NativeKernels.gegluBackward(dout, gate, up);
      float[] dGate = grads.get(0).toFloatArray();
      float[] dUp = grads.get(1).toFloatArray();
      for (int i = 0; i < gates.length; i++) {
        double g = gates[i];
        double t = Math.tanh(C * (g + 0.044715 * g * g * g));
        double gelu = 0.5 * g * (1 + t);
        double dGelu = 0.5 * (1 + t) + 0.5 * g * (1 - t * t) * C * (1 + 3 * 0.044715 * g * g);
        assertThat((double) out[i]).as("geglu[%d]", i).isCloseTo(gelu * ups[i], offset(2e-6));
        assertThat((double) dUp[i]).as("d/dup[%d]", i).isCloseTo(douts[i] * gelu, offset(2e-5));
        assertThat((double) dGate[i])
            .as("d/dgate[%d]", i)
            .isCloseTo(douts[i] * ups[i] * dGelu, offset(2e-5));
      }
    }
  }

  @Test
  void gegluEqualsTheModelsGegluWithAutograd() {
    NativeKernels.load();
    for (Shape shape : new Shape[] {new Shape(2, 4), new Shape(3, 1001), new Shape(8, 128, 1024)}) {
      try (NDManager m = manager.newSubManager()) {
        Random random = new Random(shape.size());
        NDArray gate = m.create(normal(random, shape.size(), 2), shape);
        NDArray up = m.create(normal(random, shape.size(), 1), shape);
        NDArray dout = m.create(normal(random, shape.size(), 1), shape);
        float[] out = NativeKernels.gegluForward(gate, up).toFloatArray();
        NDList grads = NativeKernels.gegluBackward(dout, gate, up);
        float[][] ref = composedGeglu(m, gate, up, dout);
        assertClose("geglu " + shape, out, ref[0]);
        assertClose("dgate " + shape, grads.get(0).toFloatArray(), ref[1]);
        assertClose("dup " + shape, grads.get(1).toFloatArray(), ref[2]);
      }
    }
  }

  /**
   * The shim hands each tensor argument to the kernel as a new handle that the kernel must delete;
   * a kernel that kept them would keep every input alive: 200 calls on fresh (8, 128, 1024) inputs
   * would hold 200 x 8 MiB.
   */
  @Test
  void kernelsReleaseTheirInputs() throws IOException {
    NativeKernels.load();
    Shape shape = new Shape(8, 128, 1024);
    long before = 0;
    for (int i = 0; i < 220; i++) {
      if (i == 20) {
        before = residentKib(); // after warm-up: allocator pools filled
      }
      try (NDManager m = manager.newSubManager()) {
        NDArray gate = m.randomNormal(shape);
        NDArray up = m.randomNormal(shape);
        NativeKernels.gegluForward(gate, up);
        NativeKernels.rmsNormForward(gate, up.get("0, 0"), EPS);
      }
    }
    long grownMib = (residentKib() - before) / 1024;
    assertThat(grownMib).as("resident memory growth over 200 calls, MiB").isLessThan(400);
  }

  static long residentKib() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    throw new IllegalStateException("no VmRSS in /proc/self/status");
  }

  @Test
  void badInputIsAJavaExceptionNotACrash() {
    NativeKernels.load();
    try (NDManager m = manager.newSubManager()) {
      NDArray x = m.create(new int[] {1, 2, 3, 4}, new Shape(1, 4));
      NDArray w = m.zeros(new Shape(4), DataType.FLOAT32);
      assertThatThrownBy(() -> NativeKernels.rmsNormForward(x, w, EPS))
          .hasMessageContaining("tensor arguments must be float32");
      NDArray xf = m.ones(new Shape(1, 4));
      NDArray w3 = m.zeros(new Shape(3));
      assertThatThrownBy(() -> NativeKernels.rmsNormForward(xf, w3, EPS))
          .hasMessageContaining("w must have D = x.size(-1) elements");
      // Non-contiguous inputs are made contiguous by the module, so they work.
      NDArray xt = m.create(new float[] {1f, 2f, 3f, 4f, 5f, 6f}, new Shape(2, 3)).transpose();
      NDArray w2 = m.zeros(new Shape(2));
      float[] y = NativeKernels.rmsNormForward(xt, w2, EPS).get(0).toFloatArray();
      double r = 1 / Math.sqrt((1 + 16) / 2.0 + EPS);
      assertThat((double) y[0]).isCloseTo(r, offset(1e-6));
      assertThat((double) y[1]).isCloseTo(4 * r, offset(1e-6));
    }
  }

  /** y, dx, dw of the model's composed RMSNorm, the gradients by autograd from y's gradient dy. */
  private static float[][] composedRmsNorm(NDManager m, NDArray x0, NDArray w0, NDArray dy) {
    try (NDManager s = m.newSubManager();
        GradientCollector collector = Engine.getInstance().newGradientCollector()) {
      NDArray x = x0.duplicate();
      NDArray w = w0.duplicate();
      x.attach(s);
      w.attach(s);
      x.setRequiresGradient(true);
      w.setRequiresGradient(true);
      NDArray y = model.rmsNorm(x, w);
      JniUtils.backward((PtNDArray) y, (PtNDArray) dy, false, false);
      try (NDArray dx = x.getGradient();
          NDArray dw = w.getGradient()) {
        return new float[][] {y.toFloatArray(), dx.toFloatArray(), dw.toFloatArray()};
      }
    }
  }

  /** out, dgate, dup of the model's GeGLU (fused_ops.pt's gelu), the gradients by autograd. */
  private static float[][] composedGeglu(NDManager m, NDArray gate0, NDArray up0, NDArray dout) {
    try (NDManager s = m.newSubManager();
        GradientCollector collector = Engine.getInstance().newGradientCollector()) {
      NDArray gate = gate0.duplicate();
      NDArray up = up0.duplicate();
      gate.attach(s);
      up.attach(s);
      gate.setRequiresGradient(true);
      up.setRequiresGradient(true);
      NDArray out = model.geglu(gate, up);
      JniUtils.backward((PtNDArray) out, (PtNDArray) dout, false, false);
      try (NDArray dGate = gate.getGradient();
          NDArray dUp = up.getGradient()) {
        return new float[][] {out.toFloatArray(), dGate.toFloatArray(), dUp.toFloatArray()};
      }
    }
  }

  /** Within 1e-5 of the reference, relative to the reference's largest magnitude. */
  static void assertClose(String what, float[] got, float[] ref) {
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

  static float[] normal(Random random, long n, double sigma) {
    float[] out = new float[Math.toIntExact(n)];
    for (int i = 0; i < out.length; i++) {
      out[i] = (float) (random.nextGaussian() * sigma);
    }
    return out;
  }

  /**
   * addProduct: c += a b in place, the GEMM accumulating into c, at the benchmark student's sizes
   * (products of 1,024 rows), with a transposed view as a and a 2-d view of a 3-d array as c.
   */
  @Test
  void addProductAccumulatesIntoItsFirstOperandInPlace() {
    try (NDManager m = manager.newSubManager()) {
      Random r = new Random(5);
      NDArray dy = randn(m, r, 8, 128, 1024); // (B, T, out)
      NDArray x = randn(m, r, 8, 128, 256); // (B, T, in)
      NDArray w = randn(m, r, 1024, 256); // (out, in)
      NDArray grad = randn(m, r, 1024, 256); // (out, in): a gradient so far
      NDArray into = randn(m, r, 8, 128, 256); // (B, T, in)
      NDArray wantGrad = grad.add(dy.reshape(-1, 1024).transpose().matMul(x.reshape(-1, 256)));
      NDArray wantInto = into.add(dy.matMul(w));
      NativeKernels.addProduct(grad, dy.reshape(-1, 1024).transpose(), x.reshape(-1, 256));
      NativeKernels.addProduct(into.reshape(-1, 256), dy.reshape(-1, 1024), w);
      assertThat(maxAbs(grad.sub(wantGrad))).isLessThan(1e-5f * maxAbs(wantGrad));
      assertThat(maxAbs(into.sub(wantInto))).isLessThan(1e-5f * maxAbs(wantInto));
    }
  }

  /** selectRows and scatterRows, by hand: rows 2 and 0 of a 3 x 2 matrix, and back. */
  @Test
  void selectRowsAndScatterRowsMoveRowsByTheirNumbers() {
    try (NDManager m = manager.newSubManager()) {
      NDArray x = m.create(new float[] {1, 2, 3, 4, 5, 6}, new Shape(3, 2));
      NDArray index = m.create(new long[] {0, 2});
      NDArray picked = NativeKernels.selectRows(x, index); // (2, 2)
      assertThat(picked.getShape()).isEqualTo(new Shape(2, 2));
      assertThat(picked.toFloatArray()).containsExactly(1, 2, 5, 6);
      NDArray back = NativeKernels.scatterRows(picked, index, 4); // (4, 2)
      assertThat(back.getShape()).isEqualTo(new Shape(4, 2));
      assertThat(back.toFloatArray()).containsExactly(1, 2, 0, 0, 5, 6, 0, 0);
    }
  }

  private static NDArray randn(NDManager m, Random r, long... shape) {
    float[] v = new float[(int) new Shape(shape).size()];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return m.create(v, new Shape(shape));
  }

  private static float maxAbs(NDArray a) {
    return a.abs().max().getFloat();
  }
}
