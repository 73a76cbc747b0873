package dev.distill.trainer.fused;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.pytorch.jni.JniUtils;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Work that DJL's ops can only compose from many passes over memory, done by single libtorch
 * kernels through a TorchScript module shipped as a resource ({@code fused_ops.pt}, written by
 * {@code trainer/src/main/python/make_fused_ops.py}, which documents its source). The module holds
 * no tensors, so it runs on the device of its arguments; autograd records through it like through
 * any op.
 *
 * <p>{@code -Ddistill.fused_ops=false} makes {@link #enabled()} false: callers then compose the
 * same math from DJL ops (same values within float rounding), for comparison and as a way out
 * should a libtorch build refuse the module.
 */
public final class FusedOps {

  /** System property that turns the fused path off when set to {@code false}. */
  public static final String PROPERTY = "distill.fused_ops";

  private static final String RESOURCE = "fused_ops.pt";

  private static volatile PtSymbolBlock module; // loaded once per process, never closed
  private static final Map<String, NDArray> MARKERS =
      new ConcurrentHashMap<>(); // method name -> marker input
  private static NDManager markerManager;

  private FusedOps() {}

  /**
   * System property that makes fp32 q/k/v and gate/up projections run as merged products when set
   * to {@code true} (see {@link #mergedProducts()}).
   */
  public static final String MERGED_PROPERTY = "distill.merged_products";

  /**
   * Whether fp32 models run a layer's q/k/v projections as one product ({@link #linear3}) and its
   * gate/up projections as one ({@link #gegluLinear}). Off by default: it changes the input
   * gradient's summation order (not fp32 bit for bit with earlier runs), and its speed-up was not
   * shown on the shared 2-core machine (docs/benchmarks.md). Only with {@link #enabled()}.
   */
  public static boolean mergedProducts() {
    return "true".equalsIgnoreCase(System.getProperty(MERGED_PROPERTY, "false").strip());
  }

  /** Whether the fused kernels are used (the default) rather than composed ops. */
  public static boolean enabled() {
    return !"false".equalsIgnoreCase(System.getProperty(PROPERTY, "true").strip());
  }

  /**
   * GeGLU's product {@code gelu_pytorch_tanh(gate) * up}, differentiable in both: one kernel
   * forward and one backward for the GELU, instead of about six and a dozen passes composed.
   *
   * @param gate (..., I) PyTorch-engine array
   * @param up (..., I) same shape
   * @return (..., I), owned by gate's manager
   */
  public static NDArray geglu(NDArray gate, NDArray up) {
    // isTrain = true only means "do not force no-grad": the thread's grad mode still decides
    // whether autograd records (a teacher's forward under NoGrad records nothing).
    return IValueUtils.forward(module(), new NDList(gate, up), true).singletonOrThrow();
  }

  /**
   * One AdamW update of a group of parameters in place by {@code torch._fused_adamw_} (PyTorch's
   * own fused AdamW, one pass over each parameter, its gradient and its moments): {@code p *= 1 -
   * lr wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr / (1 - b1^t) m / (sqrt(v) /
   * sqrt(1 - b2^t) + eps)}. Runs without autograd.
   *
   * @param params the parameters, contiguous fp32, all on one device
   * @param grads their gradients, same shapes
   * @param expAvgs first moments, same shapes, updated in place
   * @param expAvgSqs second moments, same shapes, updated in place
   * @param step t, the number of this update (1 for the first)
   */
  public static void adamw(
      List<NDArray> params,
      List<NDArray> grads,
      List<NDArray> expAvgs,
      List<NDArray> expAvgSqs,
      long step,
      double lr,
      double beta1,
      double beta2,
      double weightDecay,
      double eps) {
    int n = params.size();
    if (n == 0) {
      return;
    }
    if (grads.size() != n || expAvgs.size() != n || expAvgSqs.size() != n) {
      throw new IllegalArgumentException(
          "adamw needs one gradient and two moments per parameter: "
              + n
              + " parameters, "
              + grads.size()
              + " gradients, "
              + expAvgs.size()
              + " + "
              + expAvgSqs.size()
              + " moments");
    }
    NDArray first = params.get(0);
    try (NDManager tmp = first.getManager().newSubManager()) {
      // The kernel reads t from a float tensor per parameter, on the parameters' device.
      PtNDArray t = (PtNDArray) tmp.full(new Shape(), (float) step); // () fp32, params' device
      PtNDArray[] steps = new PtNDArray[n];
      Arrays.fill(steps, t);
      IValue[] args = {
        IValue.listFrom(params.toArray(new PtNDArray[0])),
        IValue.listFrom(grads.toArray(new PtNDArray[0])),
        IValue.listFrom(expAvgs.toArray(new PtNDArray[0])),
        IValue.listFrom(expAvgSqs.toArray(new PtNDArray[0])),
        IValue.listFrom(steps),
        IValue.from(lr),
        IValue.from(beta1),
        IValue.from(beta2),
        IValue.from(weightDecay),
        IValue.from(eps)
      };
      try {
        IValueUtils.runMethod(module(), "adamw", args).close(); // DJL runs it without autograd
      } finally {
        for (IValue a : args) {
          a.close();
        }
      }
    }
  }

  /**
   * bf16-mixed {@code x @ w^T}: both cast to bf16 inside the module, the product back to fp32.
   * Differentiable in both; an fp32 master weight gets an fp32 gradient.
   *
   * @param x (..., in) fp32
   * @param w (out, in) fp32
   * @return (..., out) fp32, owned by x's manager
   */
  public static NDArray linearBf16(NDArray x, NDArray w) {
    return call("linear_bf16", x, w);
  }

  /**
   * bf16-mixed {@code a @ b} (torch.matmul broadcasting), product in fp32.
   *
   * @param a (..., n, k) fp32
   * @param b (..., k, m) fp32
   * @return (..., n, m) fp32, owned by a's manager
   */
  public static NDArray matMulBf16(NDArray a, NDArray b) {
    return call("matmul_bf16", a, b);
  }

  /**
   * {@code x @ w^T} with a frozen 2-byte weight: the bf16 bits as int8 pairs (shape (out, 2 in):
   * DJL aborts on bf16 and on int16 tensors) or a native float16 tensor.
   *
   * @param x (..., in) fp32
   * @param w (out, 2 in) int8 bf16 bits, or (out, in) float16
   * @param lowCompute false: the weight is upcast and the product is fp32, exactly what an fp32
   *     copy of the same weights gives; true: the product runs in the weight's dtype (GPU)
   * @return (..., out) fp32, owned by x's manager
   */
  public static NDArray frozenLinear(NDArray x, NDArray w, boolean lowCompute) {
    return call(lowCompute ? "frozen_linear_low" : "frozen_linear", x, w);
  }

  /**
   * Rows of a frozen 2-byte embedding, as fp32.
   *
   * @param ids (B, T) int64
   * @param w (V, 2 D) int8 bf16 bits, or (V, D) float16
   * @return (B, T, D) fp32, owned by ids' manager
   */
  public static NDArray frozenEmbedding(NDArray ids, NDArray w) {
    return call("frozen_embedding", ids, w);
  }

  /**
   * The fp32 value of 2-byte weights, exactly (pure bf16's transient copy of a layer).
   *
   * @param w (..., 2 n) int8 bf16 bits, or (..., n) float16
   * @return (..., n) fp32, owned by w's manager
   */
  public static NDArray bf16Float(NDArray w) {
    return call("bf16_float", w);
  }

  /**
   * fp32 rounded to bf16 (round to nearest, ties to even: torch's cast), as the int8 pairs pure
   * bf16 holds its weights in; runs without autograd.
   *
   * @param x (..., n) fp32
   * @return (..., 2 n) int8 bf16 bits, owned by x's manager
   */
  public static NDArray bf16Bits(NDArray x) {
    return call("bf16_bits", x);
  }

  /**
   * {@code softmax(q k^T + mask) v} by torch's scaled_dot_product_attention (the flash kernel where
   * it applies), scale 1: the caller has scaled q. Differentiable in q, k and v. No soft-cap: equal
   * to the composed attention only without one.
   *
   * @param q (..., L, hd) fp32, already scaled
   * @param k (..., S, hd) fp32
   * @param v (..., S, hd) fp32
   * @param mask additive fp32, broadcastable to (..., L, S)
   * @param bf16 compute in bf16 (inputs cast inside, output back to fp32)
   * @return (..., L, hd) fp32, owned by q's manager
   */
  public static NDArray attention(NDArray q, NDArray k, NDArray v, NDArray mask, boolean bf16) {
    return call(bf16 ? "sdpa_bf16" : "sdpa", q, k, v, mask);
  }

  /**
   * fp32 {@code x @ a^T}, {@code x @ b^T}, {@code x @ c^T} as one product {@code x @ cat(a, b,
   * c)^T} split into its three parts (the q, k and v projections of a layer): one GEMM forward, one
   * for the input's gradient instead of three summed, one for the weights' gradients.
   * Differentiable in all four. Each product's K-sum is the same; the input gradient sums the three
   * parts inside one GEMM instead of adding three, so it differs from separate products by float
   * rounding.
   *
   * @param x (..., in) fp32
   * @param a (na, in) fp32
   * @param b (nb, in) fp32
   * @param c (nc, in) fp32
   * @return (..., na), (..., nb), (..., nc) views of one (..., na + nb + nc), owned by x's manager
   */
  public static NDList linear3(NDArray x, NDArray a, NDArray b, NDArray c) {
    return callList("linear3", x, a, b, c);
  }

  /**
   * fp32 gate and up projections as one product, then GeGLU: {@code gelu_tanh(x gate^T) * (x
   * up^T)}, differentiable in all three.
   *
   * @param x (..., D) fp32
   * @param gate (I, D) fp32
   * @param up (I, D) fp32
   * @return (..., I), owned by x's manager
   */
  public static NDArray gegluLinear(NDArray x, NDArray gate, NDArray up) {
    return call("geglu_linear", x, gate, up);
  }

  /**
   * Runs a method of the module on tensors with autograd recording (when the thread's grad mode is
   * on): DJL picks the method from an extra input named {@code module_method:<name>}, which it does
   * not pass on. The result belongs to the first argument's manager.
   */
  private static NDArray call(String method, NDArray... args) {
    return callList(method, args).singletonOrThrow();
  }

  /** {@link #call} for a method that returns a tuple of tensors. */
  private static NDList callList(String method, NDArray... args) {
    NDList in = new NDList(args.length + 1);
    in.addAll(Arrays.asList(args));
    in.add(methodMarker(method));
    return IValueUtils.forward(module(), in, true);
  }

  private static NDArray methodMarker(String method) {
    return MARKERS.computeIfAbsent(
        method,
        name -> {
          NDArray marker = markerManager().create(0f); // () never read
          marker.setName("module_method:" + name);
          NDScope.unregister(marker); // no step's scope may close it
          return marker;
        });
  }

  private static synchronized NDManager markerManager() {
    if (markerManager == null) {
      markerManager = NDManager.newBaseManager("PyTorch"); // lives as long as the process
    }
    return markerManager;
  }

  private static PtSymbolBlock module() {
    PtSymbolBlock m = module;
    if (m == null) {
      synchronized (FusedOps.class) {
        m = module;
        if (m == null) {
          m = load();
          module = m;
        }
      }
    }
    return m;
  }

  private static PtSymbolBlock load() {
    try (InputStream in = FusedOps.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException(RESOURCE + ": resource missing from the classpath");
      }
      // A manager of its own, never closed: the module lives as long as the process.
      PtNDManager owner = (PtNDManager) NDManager.newBaseManager("PyTorch");
      return JniUtils.loadModule(owner, in, false, false);
    } catch (IOException | RuntimeException e) {
      throw new IllegalStateException(
          RESOURCE
              + ": cannot load the TorchScript module of fused ops ("
              + e
              + "); run with -D"
              + PROPERTY
              + "=false to use the composed ops",
          e);
    }
  }
}
