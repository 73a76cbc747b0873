package dev.distill.trainer.optim;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.distill.trainer.fused.FusedOps;
import dev.distill.trainer.model.NoGrad;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * AdamW (Loshchilov and Hutter 2019) as {@code torch.optim.AdamW}, updating the live parameters in
 * place:
 *
 * <pre>
 *   p <- p - lr * wd * p                      (decoupled decay; skipped, see {@link #decays})
 *   m <- beta1 m + (1 - beta1) g
 *   v <- beta2 v + (1 - beta2) g^2
 *   p <- p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
 * </pre>
 *
 * <p>Gradients are read from the parameters and zeroed after the step. Parameters without a
 * gradient are left alone (their moments do not move). The state ({@code exp_avg.<name>}, {@code
 * exp_avg_sq.<name>} and the step count t) exports and imports for exact resume. Updates run with
 * PyTorch grad mode off on the calling thread, so a step may be called inside or outside a {@link
 * ai.djl.training.GradientCollector}.
 *
 * <p>Pure bf16 ({@link #inBackward}) keeps only the moments: the model hands each layer's transient
 * fp32 weights, their gradients set, to {@link #updateInBackward} while its backward pass runs (the
 * optimizer in backward, as torchtune's {@code optimizer_in_bwd}), between {@link #beginInBackward}
 * and {@link #finishInBackward}; the same update, one group at a time, without clipping.
 *
 * <p>The update runs as PyTorch's fused AdamW kernel ({@link FusedOps#adamw}, one pass over each
 * tensor), or composed from DJL ops parameter by parameter when fused ops are switched off.
 */
public final class AdamW implements AutoCloseable {

  /** Name prefix of the first moment of a parameter in the exported state. */
  public static final String EXP_AVG = "exp_avg.";

  /** Name prefix of the second moment. */
  public static final String EXP_AVG_SQ = "exp_avg_sq.";

  private final OptimizerConfig config;
  private final LrSchedule schedule;
  private final Map<String, NDArray> parameters;
  private final NDManager stateManager;
  private final Map<String, NDArray> expAvg = new LinkedHashMap<>();
  private final Map<String, NDArray> expAvgSq = new LinkedHashMap<>();
  private long step;
  private final boolean
      inBackward; // pure bf16: the parameters come per group, see updateInBackward
  private double inBackwardLr = Double.NaN; // the open step's learning rate, NaN when none is open
  private double inBackwardSquares; // sum of the squared gradient norms of the open step
  private int inBackwardGroups; // groups updated so far in the open step

  /**
   * @param config settings
   * @param parameters the live parameters by Hugging Face name, in a stable order
   * @param manager parent of the manager that holds the moments (zeros, same shapes and devices)
   */
  public AdamW(OptimizerConfig config, Map<String, NDArray> parameters, NDManager manager) {
    this.inBackward = false;
    this.config = config;
    this.schedule = config.schedule();
    this.parameters = Collections.unmodifiableMap(new LinkedHashMap<>(parameters));
    Map<NDArray, String> seen = new IdentityHashMap<>();
    for (Map.Entry<String, NDArray> e : this.parameters.entrySet()) {
      String other = seen.put(e.getValue(), e.getKey());
      if (other != null) {
        throw new IllegalArgumentException(
            "parameters "
                + other
                + " and "
                + e.getKey()
                + " are the same tensor (tied weights): list it once, or it is updated twice");
      }
    }
    this.stateManager = manager.newSubManager();
    try (NoGrad ignored = NoGrad.enter()) {
      for (Map.Entry<String, NDArray> e : this.parameters.entrySet()) {
        NDArray p = e.getValue();
        if (p.getDataType() != DataType.FLOAT32) {
          throw new IllegalArgumentException(
              "parameter " + e.getKey() + " must be FLOAT32, was " + p.getDataType());
        }
        expAvg.put(e.getKey(), stateManager.zeros(p.getShape(), DataType.FLOAT32, p.getDevice()));
        expAvgSq.put(e.getKey(), stateManager.zeros(p.getShape(), DataType.FLOAT32, p.getDevice()));
      }
    }
  }

  /**
   * An optimiser of weights held elsewhere (pure bf16) and updated group by group inside the
   * backward pass ({@link #updateInBackward}): only the fp32 moments live here, zeros of the given
   * shapes. {@link #clipAndStep} and {@link #step(double)} refuse to run.
   *
   * @param shapes every trainable weight's name and (logical, fp32) shape, in a stable order
   * @param device where the moments live (the weights' device)
   */
  public static AdamW inBackward(
      OptimizerConfig config, Map<String, Shape> shapes, Device device, NDManager manager) {
    return new AdamW(config, shapes, device, manager);
  }

  private AdamW(
      OptimizerConfig config, Map<String, Shape> shapes, Device device, NDManager manager) {
    this.inBackward = true;
    this.config = config;
    this.schedule = config.schedule();
    this.parameters = Map.of();
    this.stateManager = manager.newSubManager();
    try (NoGrad ignored = NoGrad.enter()) {
      for (Map.Entry<String, Shape> e : shapes.entrySet()) {
        expAvg.put(e.getKey(), stateManager.zeros(e.getValue(), DataType.FLOAT32, device));
        expAvgSq.put(e.getKey(), stateManager.zeros(e.getValue(), DataType.FLOAT32, device));
      }
    }
  }

  /** Opens an update in backward: update t = step + 1, at the schedule's learning rate. */
  public void beginInBackward() {
    requireInBackward();
    inBackwardLr = nextLearningRate();
    inBackwardSquares = 0;
    inBackwardGroups = 0;
  }

  /**
   * Updates some weights of the open step in place, from their gradients (AdamW at t = step + 1);
   * the gradients are left to the caller, who drops the weights.
   *
   * @param weights name to fp32 weight with its gradient set (the model's transient copy)
   * @throws NonFiniteGradientException when a gradient is NaN or infinite (no weight of this group
   *     is updated; the groups before it already were, {@link
   *     NonFiniteGradientException#groupsUpdated})
   */
  public void updateInBackward(Map<String, NDArray> weights) {
    requireInBackward();
    if (Double.isNaN(inBackwardLr)) {
      throw new IllegalStateException("updateInBackward outside beginInBackward/finishInBackward");
    }
    for (String name : weights.keySet()) {
      if (!expAvg.containsKey(name)) {
        throw new IllegalArgumentException("weight " + name + " has no optimizer state");
      }
    }
    double norm = GradClipper.globalNorm(weights);
    if (!Double.isFinite(norm)) {
      throw new NonFiniteGradientException(
          List.copyOf(weights.keySet()), norm, step + 1, inBackwardGroups);
    }
    inBackwardSquares += norm * norm;
    if (FusedOps.enabled()) {
      stepFused(weights, inBackwardLr, step + 1);
    } else {
      stepComposed(weights, inBackwardLr, step + 1);
    }
    inBackwardGroups++;
  }

  /**
   * Closes the open update in backward: the step count moves on.
   *
   * @return the norm of every gradient of the step (nothing was clipped) and the learning rate
   */
  public StepReport finishInBackward() {
    requireInBackward();
    if (Double.isNaN(inBackwardLr)) {
      throw new IllegalStateException("finishInBackward without beginInBackward");
    }
    StepReport report = new StepReport(Math.sqrt(inBackwardSquares), inBackwardLr);
    step++;
    inBackwardLr = Double.NaN;
    return report;
  }

  /** Whether this optimiser updates inside the backward pass ({@link #inBackward}). */
  public boolean updatesInBackward() {
    return inBackward;
  }

  private void requireInBackward() {
    if (!inBackward) {
      throw new IllegalStateException("this optimizer steps after the backward pass, not in it");
    }
  }

  /**
   * Whether weight decay applies: not to norms and embeddings (a Hugging Face name containing
   * {@code norm} or {@code embed}) nor to 1-D tensors (norm weights, biases).
   *
   * @param name the parameter's Hugging Face name
   * @param parameter the tensor (its rank decides for 1-D)
   */
  public static boolean decays(String name, NDArray parameter) {
    String lower = name.toLowerCase(Locale.ROOT);
    return !lower.contains("norm")
        && !lower.contains("embed")
        && parameter.getShape().dimension() > 1;
  }

  /** Updates made so far (t). */
  public long step() {
    return step;
  }

  /** The schedule's learning rate for the next update. */
  public double nextLearningRate() {
    return schedule.lr(step + 1);
  }

  /**
   * What one {@link #clipAndStep} did.
   *
   * @param gradNorm global gradient norm before clipping
   * @param learningRate the learning rate of the update
   */
  public record StepReport(double gradNorm, double learningRate) {}

  /**
   * The usual optimiser step: global-norm clipping at {@code gradClip}, then one update at the
   * schedule's learning rate, then the gradients are zeroed.
   *
   * @throws IllegalStateException when the gradient norm is NaN or infinite; the gradients are
   *     zeroed and no update is made
   */
  public StepReport clipAndStep() {
    requireAfterBackward();
    double norm = GradClipper.clip(parameters, config.gradClip());
    if (!Double.isFinite(norm)) {
      zeroGradients();
      throw new IllegalStateException(
          "gradient norm is " + norm + " before update " + (step + 1) + "; no update was made");
    }
    double lr = stepScheduled();
    return new StepReport(norm, lr);
  }

  /**
   * One update at the schedule's learning rate; zeroes the gradients afterwards.
   *
   * @return the learning rate used
   */
  public double stepScheduled() {
    double lr = nextLearningRate();
    step(lr);
    return lr;
  }

  /**
   * One update at the given learning rate; zeroes the gradients afterwards.
   *
   * @param lr learning rate of this update
   */
  public void step(double lr) {
    if (!(lr >= 0) || Double.isInfinite(lr)) {
      throw new IllegalArgumentException("lr must be finite and not negative, was " + lr);
    }
    requireAfterBackward();
    long t = step + 1;
    if (FusedOps.enabled()) {
      stepFused(parameters, lr, t);
    } else {
      stepComposed(parameters, lr, t);
    }
    step = t;
    zeroGradients();
  }

  private void requireAfterBackward() {
    if (inBackward) {
      throw new IllegalStateException(
          "this optimizer updates inside the backward pass (pure bf16): use updateInBackward");
    }
  }

  /** Two calls of PyTorch's fused AdamW: the parameters that decay, then the others. */
  private void stepFused(Map<String, NDArray> parameters, double lr, long t) {
    try (NoGrad ignored = NoGrad.enter()) {
      for (boolean decayGroup : new boolean[] {true, false}) {
        List<NDArray> ps = new ArrayList<>();
        List<NDArray> gs = new ArrayList<>();
        List<NDArray> ms = new ArrayList<>();
        List<NDArray> vs = new ArrayList<>();
        try {
          for (Map.Entry<String, NDArray> e : parameters.entrySet()) {
            NDArray p = e.getValue();
            if ((config.weightDecay() > 0 && decays(e.getKey(), p)) != decayGroup) {
              continue;
            }
            NDArray g = Gradients.of(p);
            if (g == null) {
              continue; // never reached by a backward pass: skipped, as torch.optim skips None
            }
            ps.add(p);
            gs.add(g);
            ms.add(expAvg.get(e.getKey()));
            vs.add(expAvgSq.get(e.getKey()));
          }
          double wd = decayGroup ? config.weightDecay() : 0.0;
          FusedOps.adamw(ps, gs, ms, vs, t, lr, config.beta1(), config.beta2(), wd, config.eps());
        } finally {
          gs.forEach(NDArray::close);
        }
      }
    }
  }

  /** The same update composed from DJL ops, parameter by parameter. */
  private void stepComposed(Map<String, NDArray> parameters, double lr, long t) {
    double b1 = config.beta1();
    double b2 = config.beta2();
    double bias1 = 1 - Math.pow(b1, t);
    double bias2 = 1 - Math.pow(b2, t);
    // p -= (lr / bias1) * m / (sqrt(v) / sqrt(bias2) + eps), PyTorch's arrangement of the same
    // formula
    float stepSize = (float) (lr / bias1);
    float invSqrtBias2 = (float) (1.0 / Math.sqrt(bias2));
    float decayFactor = (float) (1 - lr * config.weightDecay());
    try (NoGrad ignored = NoGrad.enter();
        NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      for (Map.Entry<String, NDArray> e : parameters.entrySet()) {
        NDArray p = e.getValue();
        NDArray m = expAvg.get(e.getKey());
        NDArray v = expAvgSq.get(e.getKey());
        try (NDArray g = Gradients.of(p)) {
          if (g == null) {
            continue; // never reached by a backward pass: skipped, as torch.optim skips grad None
          }
          if (config.weightDecay() > 0 && decays(e.getKey(), p)) {
            p.muli(decayFactor);
          }
          m.muli((float) b1).addi(g.mul((float) (1 - b1)));
          v.muli((float) b2).addi(g.square().muli((float) (1 - b2)));
          NDArray denom = v.sqrt().muli(invSqrtBias2).addi((float) config.eps());
          p.subi(m.div(denom).muli(stepSize));
        }
      }
    }
  }

  /** Sets every parameter's gradient to zero. */
  public void zeroGradients() {
    try (NoGrad ignored = NoGrad.enter()) {
      for (NDArray p : parameters.values()) {
        try (NDArray g = Gradients.of(p)) {
          if (g instanceof PtNDArray) {
            JniUtils.zeroGrad((PtNDArray) p); // zero_() on the storage: clears NaN too
          } else if (g != null) {
            g.subi(g);
          }
        }
      }
    }
  }

  /**
   * The moments under stable names ({@link #EXP_AVG}{@code <param>}, {@link #EXP_AVG_SQ}{@code
   * <param>}), in parameter order. These are the live state arrays: save them, do not close them.
   * The step count is {@link #step()}.
   */
  public Map<String, NDArray> exportState() {
    Map<String, NDArray> out = new LinkedHashMap<>();
    for (String name : expAvg.keySet()) {
      out.put(EXP_AVG + name, expAvg.get(name));
      out.put(EXP_AVG_SQ + name, expAvgSq.get(name));
    }
    return out;
  }

  /**
   * Copies saved moments into this optimiser (the arrays are not kept) and sets the step count.
   *
   * @param state every {@code exp_avg.<param>} and {@code exp_avg_sq.<param>} of this optimiser's
   *     parameters
   * @param step the saved step count
   * @throws IllegalArgumentException naming the tensor when one is missing, unknown or of the wrong
   *     shape
   */
  public void importState(Map<String, NDArray> state, long step) {
    if (step < 0) {
      throw new IllegalArgumentException("step must not be negative, was " + step);
    }
    for (String key : state.keySet()) {
      String name =
          key.startsWith(EXP_AVG_SQ)
              ? key.substring(EXP_AVG_SQ.length())
              : key.startsWith(EXP_AVG) ? key.substring(EXP_AVG.length()) : null;
      if (name == null || !expAvg.containsKey(name)) {
        throw new IllegalArgumentException(
            "optimizer state tensor " + key + " matches no parameter");
      }
    }
    try (NoGrad ignored = NoGrad.enter()) {
      for (String name : expAvg.keySet()) {
        copyInto(state, EXP_AVG + name, expAvg.get(name));
        copyInto(state, EXP_AVG_SQ + name, expAvgSq.get(name));
      }
    }
    this.step = step;
  }

  private static void copyInto(Map<String, NDArray> state, String key, NDArray target) {
    NDArray source = state.get(key);
    if (source == null) {
      throw new IllegalArgumentException("optimizer state tensor " + key + " is missing");
    }
    if (!source.getShape().equals(target.getShape())) {
      throw new IllegalArgumentException(
          "optimizer state tensor "
              + key
              + " must have shape "
              + target.getShape()
              + ", was "
              + source.getShape());
    }
    try (NDArray converted = source.toType(DataType.FLOAT32, true);
        NDArray placed = converted.toDevice(target.getDevice(), false)) {
      // a native copy; set(Buffer) would go through the host and make libtorch print a
      // deprecation warning ("AutoNonVariableTypeMode") into the worker's log
      target.set(new NDIndex("..."), placed);
    }
  }

  /** Frees the moments. */
  @Override
  public void close() {
    stateManager.close();
  }
}
