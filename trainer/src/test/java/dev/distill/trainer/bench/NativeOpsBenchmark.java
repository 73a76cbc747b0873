package dev.distill.trainer.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import dev.distill.trainer.fused.NativeKernels;
import dev.distill.trainer.model.gemma2.Gemma2Config;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.model.gemma2.ModelOps;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The C-shim kernel spike's timing (docs/benchmarks.md, "Fused CPU kernels through libtorch's C
 * shim: spike"): forward + backward of the model's RMSNorm at (8, 128, 256) and of its GeGLU at (8,
 * 128, 1024), as the model runs them (DJL ops, resp. fused_ops.pt's gelu times up, the backward by
 * autograd from an injected output gradient), against the native ops of {@code libdistill_ops.so}
 * (forward op, then backward op); then the forwards alone, with nothing requiring a gradient (a
 * frozen teacher's forward); then the post-norm + residual + next pre-norm pair at (8, 128, 256)
 * and rope on a layer's q and k with the attention's layout, fwd + bwd and fwd only. Alternating
 * blocks of iterations; wall time and process CPU time (all threads) per iteration.
 *
 * <p>Usage (after {@code trainer/src/main/native/build.sh}, from {@code trainer/}): {@code
 * OMP_NUM_THREADS=N java -Dai.djl.pytorch.num_threads=N -cp ...
 * dev.distill.trainer.bench.NativeOpsBenchmark [iterations-per-block [blocks]]}.
 */
public final class NativeOpsBenchmark {

  private NativeOpsBenchmark() {}

  /** One measured variant: a forward + backward, everything it makes closed by the caller. */
  private interface Step {
    void run(NDManager m);
  }

  public static void main(String[] args) {
    int perBlock = args.length > 0 ? Integer.parseInt(args[0]) : 50;
    int blocks = args.length > 1 ? Integer.parseInt(args[1]) : 6;
    System.out.println("library: " + NativeKernels.load());
    System.out.printf(
        Locale.ROOT,
        "threads: ai.djl.pytorch.num_threads=%s OMP_NUM_THREADS=%s; load average %.2f%n",
        System.getProperty("ai.djl.pytorch.num_threads", "(default)"),
        System.getenv().getOrDefault("OMP_NUM_THREADS", "(unset)"),
        ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
    try (NDManager base = NDManager.newBaseManager("PyTorch");
        Gemma2Model model =
            Gemma2Model.init(
                Gemma2Config.preset("gemma2-tiny")
                    .withOverrides(Map.of("num_hidden_layers", 1, "vocab_size", 16)),
                base,
                1)) {
      Random random = new Random(1);
      Shape norm = new Shape(8, 128, 256);
      NDArray x = base.create(normal(random, norm.size(), 1.5), norm);
      NDArray w = base.create(normal(random, 256, 0.3));
      NDArray dy = base.create(normal(random, norm.size(), 1), norm);
      Shape mlp = new Shape(8, 128, 1024);
      NDArray gate = base.create(normal(random, mlp.size(), 2), mlp);
      NDArray up = base.create(normal(random, mlp.size(), 1), mlp);
      NDArray dout = base.create(normal(random, mlp.size(), 1), mlp);
      double eps = model.config().rmsNormEps();

      Step composedNorm =
          m -> {
            NDArray xl = leaf(x, m);
            NDArray wl = leaf(w, m);
            NDArray y = ModelOps.rmsNorm(model, xl, wl);
            JniUtils.backward((PtNDArray) y, (PtNDArray) dy, false, false);
            xl.getGradient().close();
            wl.getGradient().close();
          };
      Step nativeNorm =
          m -> {
            NDList fwd = NativeKernels.rmsNormForward(x, w, eps);
            NDList bwd = NativeKernels.rmsNormBackward(dy, x, w, fwd.get(1));
            fwd.close();
            bwd.close();
          };
      Step composedGeglu =
          m -> {
            NDArray g = leaf(gate, m);
            NDArray u = leaf(up, m);
            NDArray out = ModelOps.geglu(model, g, u);
            JniUtils.backward((PtNDArray) out, (PtNDArray) dout, false, false);
            g.getGradient().close();
            u.getGradient().close();
          };
      Step nativeGeglu =
          m -> {
            NDArray out = NativeKernels.gegluForward(gate, up);
            NDList grads = NativeKernels.gegluBackward(dout, gate, up);
            out.close();
            grads.close();
          };
      // The norm between two differentiable ops, as in the model: composed, one backward; against
      // the native norm cutting the graph (its output a fresh leaf, the segment above
      // back-propagated first, the native backward, then the segment below, dw added by hand).
      NDArray s1 = base.full(new Shape(), 1.01f); // () native scalars (DJL bite 2)
      NDArray s2 = base.full(new Shape(), 0.99f);
      NDArray wGrad = base.zeros(new Shape(256)); // (D) the parameter's gradient, accumulated
      Step composedChain =
          m -> {
            NDArray xl = leaf(x, m);
            NDArray wl = leaf(w, m);
            NDArray v = ModelOps.rmsNorm(model, xl.mul(s1), wl).mul(s2);
            JniUtils.backward((PtNDArray) v, (PtNDArray) dy, false, false);
            xl.getGradient().close();
            wl.getGradient().close();
          };
      Step nativeCut =
          m -> {
            NDArray xl = leaf(x, m);
            NDArray u = xl.mul(s1); // (8, 128, 256) the segment below, with its graph
            NDList fwd = NativeKernels.rmsNormForward(u, w, eps);
            NDArray yl = leaf(fwd.get(0), m); // the cut: a leaf above the norm
            NDArray v = yl.mul(s2);
            JniUtils.backward((PtNDArray) v, (PtNDArray) dy, false, false); // segment above
            try (NDArray gy = yl.getGradient()) {
              NDList bwd = NativeKernels.rmsNormBackward(gy, u, w, fwd.get(1));
              JniUtils.backward((PtNDArray) u, (PtNDArray) bwd.get(0), false, false); // below
              wGrad.addi(bwd.get(1));
              bwd.close();
            }
            xl.getGradient().close();
          };
      // Gemma 2's attention probabilities of one layer: (B, KV, G*T, S) = (8, 2, 256, 128), cap 50,
      // the causal (T, S) mask; composed as the model does (tanh, cap, mask, softmax).
      Shape scores = new Shape(8, 2, 256, 128);
      NDArray s = base.create(normal(random, scores.size(), 1), scores);
      NDArray dp = base.create(normal(random, scores.size(), 1), scores);
      NDArray cap = base.full(new Shape(), 50f);
      float[] mask = new float[128 * 128];
      for (int i = 0; i < mask.length; i++) {
        mask[i] = i % 128 <= i / 128 ? 0f : -1e9f;
      }
      NDArray causalMask = base.create(mask, new Shape(128, 128)); // 0 on and below the diagonal
      Step composedSoftmax =
          m -> {
            NDArray sl = leaf(s, m);
            NDArray p = sl.tanh().mul(cap).reshape(8, 2, 2, 128, 128).add(causalMask).softmax(-1);
            JniUtils.backward((PtNDArray) p.reshape(scores), (PtNDArray) dp, false, false);
            sl.getGradient().close();
          };
      Step nativeSoftmax =
          m -> {
            NDArray p = NativeKernels.softcapSoftmaxForward(s, causalMask, 50);
            NativeKernels.softcapSoftmaxBackward(dp, p, s, 50).close();
            p.close();
          };
      // Forward only, nothing requiring a gradient (a frozen teacher's forward).
      // The inputs are views in the iteration's manager, so that every intermediate is freed with
      // it.
      Step composedNormForward = m -> ModelOps.rmsNorm(model, view(x, m), view(w, m));
      Step nativeNormForward = m -> NativeKernels.rmsNormForward(view(x, m), view(w, m), eps);
      Step composedGegluForward = m -> ModelOps.geglu(model, view(gate, m), view(up, m));
      Step nativeGegluForward = m -> NativeKernels.gegluForward(view(gate, m), view(up, m));
      compare("RMSNorm (8, 128, 256) fwd + bwd", composedNorm, nativeNorm, base, perBlock, blocks);
      compare(
          "x * s1 -> RMSNorm -> * s2, fwd + bwd (graph cut)",
          composedChain,
          nativeCut,
          base,
          perBlock,
          blocks);
      compare(
          "RMSNorm (8, 128, 256) fwd only",
          composedNormForward,
          nativeNormForward,
          base,
          perBlock,
          blocks);
      compare("GeGLU (8, 128, 1024) fwd + bwd", composedGeglu, nativeGeglu, base, perBlock, blocks);
      compare(
          "GeGLU (8, 128, 1024) fwd only",
          composedGegluForward,
          nativeGegluForward,
          base,
          perBlock,
          blocks);
      compare(
          "soft-cap + mask + softmax (8, 2, 256, 128) fwd + bwd",
          composedSoftmax,
          nativeSoftmax,
          base,
          perBlock,
          blocks);
      compare(
          "soft-cap + mask + softmax fwd only",
          m -> view(s, m).tanh().mul(cap).reshape(8, 2, 2, 128, 128).add(causalMask).softmax(-1),
          m -> NativeKernels.softcapSoftmaxForward(view(s, m), causalMask, 50),
          base,
          perBlock,
          blocks);
      // Gemma 2's post-norm + residual + next pre-norm at (8, 128, 256): composed as the model runs
      // it (x2 = x + rmsNorm(o, w1), y = rmsNorm(x2, w2)), the gradients of x2 (the residual path)
      // and of y injected (one backward through the stack of the two, so that the first norm's
      // backward runs once), autograd to x, o, w1, w2; against the native pair.
      NDArray o = base.create(normal(random, norm.size(), 0.7), norm);
      NDArray w2 = base.create(normal(random, 256, 0.3));
      NDArray dres = base.create(normal(random, norm.size(), 1), norm);
      NDArray dBoth = NDArrays.stack(new NDList(dres, dy)); // (2, 8, 128, 256)
      Step composedAddNorm =
          m -> {
            NDArray xl = leaf(x, m);
            NDArray ol = leaf(o, m);
            NDArray w1l = leaf(w, m);
            NDArray w2l = leaf(w2, m);
            NDArray x2 = xl.add(ModelOps.rmsNorm(model, ol, w1l));
            NDArray y = ModelOps.rmsNorm(model, x2, w2l);
            NDArray both = NDArrays.stack(new NDList(x2, y)); // (2, 8, 128, 256)
            JniUtils.backward((PtNDArray) both, (PtNDArray) dBoth, false, false);
            for (NDArray l : new NDArray[] {xl, ol, w1l, w2l}) {
              l.getGradient().close();
            }
          };
      Step nativeAddNorm =
          m -> {
            NDList fwd = NativeKernels.addRmsNorm2Forward(x, o, w, w2, eps);
            NDList bwd =
                NativeKernels.addRmsNorm2Backward(
                    dres, dy, o, fwd.get(0), w, w2, fwd.get(2), fwd.get(3));
            fwd.close();
            bwd.close();
          };
      // Rope on one layer's q (8, 128, 4*64) and k (8, 128, 2*64) from the projections, q scaled
      // and grouped (B, KV, G*T, hd), k (B, KV, T, hd): composed as Gemma2Model.attention does
      // (applyRope, restated here, then the reshapes and transposes), gradients of both injected.
      int tt = 128;
      int hd = 64;
      Shape qShape = new Shape(8, tt, 4 * hd);
      Shape kShape = new Shape(8, tt, 2 * hd);
      NDArray q = base.create(normal(random, qShape.size(), 1), qShape);
      NDArray k = base.create(normal(random, kShape.size(), 1), kShape);
      NDArray dqr = base.create(normal(random, qShape.size(), 1), new Shape(8, 2, 2 * tt, hd));
      NDArray dkr = base.create(normal(random, kShape.size(), 1), new Shape(8, 2, tt, hd));
      NDArray[] rope = ropeTables(base, tt, hd); // (1, T, 1, hd) cos, signed sin
      double qScale = 1 / Math.sqrt(hd) / 50;
      NDArray qScaleArray = base.full(new Shape(), (float) qScale);
      Step composedRope =
          m -> {
            NDArray ql = leaf(q, m);
            NDArray kl = leaf(k, m);
            NDArray qr =
                applyRope(ql.reshape(8, tt, 4, hd), rope)
                    .mul(qScaleArray)
                    .reshape(8, tt, 2, 2, hd)
                    .transpose(0, 2, 3, 1, 4)
                    .reshape(8, 2, 2 * tt, hd);
            NDArray kr = applyRope(kl.reshape(8, tt, 2, hd), rope).transpose(0, 2, 1, 3);
            JniUtils.backward((PtNDArray) qr, (PtNDArray) dqr, false, false);
            JniUtils.backward((PtNDArray) kr, (PtNDArray) dkr, false, false);
            ql.getGradient().close();
            kl.getGradient().close();
          };
      Step nativeRope =
          m -> {
            NDList fwd = NativeKernels.ropeQkForward(q, k, rope[0], rope[1], qScale, 2);
            NDList bwd = NativeKernels.ropeQkBackward(dqr, dkr, rope[0], rope[1], qScale, 2);
            fwd.close();
            bwd.close();
          };
      compare(
          "x + norm(o) -> norm (8, 128, 256) fwd + bwd",
          composedAddNorm,
          nativeAddNorm,
          base,
          perBlock,
          blocks);
      compare(
          "x + norm(o) -> norm fwd only",
          m -> {
            NDArray x2 = view(x, m).add(ModelOps.rmsNorm(model, view(o, m), view(w, m)));
            ModelOps.rmsNorm(model, x2, view(w2, m));
          },
          m -> NativeKernels.addRmsNorm2Forward(view(x, m), view(o, m), w, w2, eps),
          base,
          perBlock,
          blocks);
      compare(
          "rope q (8, 128, 4*64), k (8, 128, 2*64) + layout, fwd + bwd",
          composedRope,
          nativeRope,
          base,
          perBlock,
          blocks);
      compare(
          "rope q, k + layout, fwd only",
          m -> {
            applyRope(view(q, m).reshape(8, tt, 4, hd), rope)
                .mul(qScaleArray)
                .reshape(8, tt, 2, 2, hd)
                .transpose(0, 2, 3, 1, 4)
                .reshape(8, 2, 2 * tt, hd);
            applyRope(view(k, m).reshape(8, tt, 2, hd), rope).transpose(0, 2, 1, 3);
          },
          m -> NativeKernels.ropeQkForward(view(q, m), view(k, m), rope[0], rope[1], qScale, 2),
          base,
          perBlock,
          blocks);
      System.out.printf(
          Locale.ROOT,
          "load average at the end %.2f%n",
          ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
    }
  }

  /** Gemma2Model.applyRope, restated (it is private): {@code x * cos + cat(x2, x1) * sin'}. */
  private static NDArray applyRope(NDArray x, NDArray[] rope) {
    NDList halves = x.split(2, 3); // 2 x (B, T, n, hd/2)
    NDArray swapped = NDArrays.concat(new NDList(halves.get(1), halves.get(0)), 3); // (B,T,n,hd)
    return x.mul(rope[0]).add(swapped.mul(rope[1]));
  }

  /** Gemma2Model.buildRope's cos and signed sin (theta 10,000), as (1, T, 1, hd). */
  private static NDArray[] ropeTables(NDManager m, int positions, int hd) {
    float[] cos = new float[positions * hd];
    float[] sin = new float[positions * hd];
    for (int p = 0; p < positions; p++) {
      for (int i = 0; i < hd / 2; i++) {
        float angle = (float) p * (float) (1.0 / Math.pow(10000, (2.0 * i) / hd));
        cos[p * hd + i] = (float) Math.cos(angle);
        cos[p * hd + i + hd / 2] = (float) Math.cos(angle);
        sin[p * hd + i] = (float) -Math.sin(angle);
        sin[p * hd + i + hd / 2] = (float) Math.sin(angle);
      }
    }
    Shape shape = new Shape(1, positions, 1, hd);
    return new NDArray[] {m.create(cos, shape), m.create(sin, shape)};
  }

  /** A's data as an array of m, not requiring a gradient. */
  private static NDArray view(NDArray a, NDManager m) {
    NDArray v = a.stopGradient();
    v.attach(m);
    return v;
  }

  /** A fresh leaf sharing a's data, with a gradient of its own. */
  private static NDArray leaf(NDArray a, NDManager m) {
    NDArray l = a.stopGradient();
    l.attach(m);
    l.setRequiresGradient(true);
    return l;
  }

  private static void compare(
      String what, Step composed, Step fused, NDManager base, int perBlock, int blocks) {
    List<double[]> c = new ArrayList<>(); // per block: wall ms, CPU ms per iteration
    List<double[]> n = new ArrayList<>();
    block(composed, base, perBlock / 2 + 1); // warm-up
    block(fused, base, perBlock / 2 + 1);
    for (int b = 0; b < blocks; b++) {
      c.add(block(composed, base, perBlock));
      n.add(block(fused, base, perBlock));
    }
    double[] cw = column(c, 0);
    double[] cc = column(c, 1);
    double[] nw = column(n, 0);
    double[] nc = column(n, 1);
    System.out.printf(
        Locale.ROOT,
        "%s, %d blocks of %d: composed wall %.3f ms (blocks %.3f-%.3f), CPU %.3f ms;"
            + " native wall %.3f ms (blocks %.3f-%.3f), CPU %.3f ms; saved wall %.3f ms,"
            + " CPU %.3f ms; ratio composed / native wall %.2f, CPU %.2f%n",
        what,
        blocks,
        perBlock,
        median(cw),
        min(cw),
        max(cw),
        median(cc),
        median(nw),
        min(nw),
        max(nw),
        median(nc),
        median(cw) - median(nw),
        median(cc) - median(nc),
        median(cw) / median(nw),
        median(cc) / median(nc));
  }

  /** Mean wall and process CPU ms per iteration over one block. */
  private static double[] block(Step step, NDManager base, int iterations) {
    long cpu0 = cpuNanos();
    long t0 = System.nanoTime();
    try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
      for (int i = 0; i < iterations; i++) {
        try (NDManager m = base.newSubManager()) {
          step.run(m);
        }
      }
    }
    long t1 = System.nanoTime();
    long cpu1 = cpuNanos();
    return new double[] {(t1 - t0) / 1e6 / iterations, (cpu1 - cpu0) / 1e6 / iterations};
  }

  private static long cpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }

  private static double[] column(List<double[]> rows, int k) {
    return rows.stream().mapToDouble(r -> r[k]).toArray();
  }

  private static double median(double[] a) {
    double[] s = a.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  private static double min(double[] a) {
    return Arrays.stream(a).min().orElse(Double.NaN);
  }

  private static double max(double[] a) {
    return Arrays.stream(a).max().orElse(Double.NaN);
  }

  private static float[] normal(Random random, long n, double sigma) {
    float[] out = new float[Math.toIntExact(n)];
    for (int i = 0; i < out.length; i++) {
      out[i] = (float) (random.nextGaussian() * sigma);
    }
    return out;
  }
}
