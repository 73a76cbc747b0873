package dev.distill.trainer.fused;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
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

  private FusedOps() {}

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
