package dev.distill.trainer.model.gemma2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Activation;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.distill.spec.plan.Precision;
import dev.distill.trainer.fused.FusedOps;
import dev.distill.trainer.fused.NativeKernels;
import dev.distill.trainer.model.IncrementalLm;
import dev.distill.trainer.model.KvCache;
import dev.distill.trainer.model.NoGrad;
import dev.distill.trainer.model.gemma2.Gemma2WeightNames.Layer;
import dev.distill.trainer.safetensors.SafetensorsCheckpoint;
import dev.distill.trainer.safetensors.SafetensorsDtype;
import dev.distill.trainer.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Gemma 2 as in Hugging Face's {@code modeling_gemma2.py}, written out by hand. Parameters are
 * plain fp32 arrays under their Hugging Face names ({@link Gemma2WeightNames}), except in a frozen
 * model ({@link #loadFrozen}), whose matrices stay in their checkpoint's 2-byte dtype; everything
 * runs on the device of the manager the model was made with. The {@link Precision} decides how the
 * matmuls run: fp32 as DJL ops, bf16 inside {@link FusedOps} (fp32 at the boundary). Attention is
 * composed (matmul, soft-cap, mask, softmax, matmul) when {@code attn_logit_softcapping} is set and
 * fused (scaled_dot_product_attention) when it is null. Shapes: B batch, T new positions, S key
 * positions (T without a cache), D hidden, H query heads, KV key/value heads, G = H / KV, hd head
 * dim, I MLP width, V vocabulary.
 *
 * <p>Per layer: {@code x += post_attn_norm(attn(input_norm(x)))}, then {@code x +=
 * post_ffn_norm(mlp(pre_ffn_norm(x)))}; even layers attend within the sliding window, odd layers
 * globally.
 *
 * <p>With {@link Gemma2Lora} adapters attached, every adapted projection adds its low-rank update
 * ({@link #project}); the base weights are then frozen and {@link #parameters()} lists only the
 * adapters. A LoRA base made by {@link #loadFrozenBase} or {@link #initFrozenBase} in a 2-byte
 * precision holds its matrices as bf16 bits like a frozen teacher; the gradient of the loss still
 * flows through its bf16 products to the activations, so to the adapters of every layer below.
 *
 * <p>In pure {@link Precision#BF16} every trainable weight is held as bf16 bits (int8 pairs, as a
 * frozen model's matrices) and the model runs its own optimiser step inside the backward pass
 * ({@link #finishBackward(WeightUpdate)}): each layer is recomputed from transient fp32 copies of
 * its weights (exact upcasts; the matmuls cast them back to bf16), updated as soon as its gradients
 * exist, written back rounded to nearest-even bf16, and its copies dropped. The embedding (also the
 * head) and the final norm have fp32 copies for the whole step, read at both ends of it. Forward
 * passes without autograd read the bf16 bits directly.
 *
 * <p>With {@link #setNativeKernels} (or {@code -Ddistill.native_kernels=true}) an fp32 CPU model's
 * decoder runs on fused C kernels ({@link NativeKernels}) with its backward written out by hand
 * (section "The native fused CPU path" below): the same layer, equal within float rounding, not
 * bit-for-bit.
 *
 * <p>Masks are built once per (T, window) and cached (the 16 most recently used); the RoPE tables
 * grow on demand. Use a model from one thread at a time.
 */
public final class Gemma2Model implements IncrementalLm, AutoCloseable {

  /**
   * The additive mask value of hidden keys: exp of it is exactly 0 in fp32, and it cannot make a
   * NaN.
   */
  private static final float MASKED = -1e9f;

  /** sqrt(2 / pi) of the tanh approximation of GELU. */
  private static final double GELU_C = Math.sqrt(2.0 / Math.PI);

  /**
   * Masks kept per model: batches padded to varying lengths must not grow the cache without bound.
   */
  private static final int MASK_CACHE_SIZE = 16;

  /** Default shard size when saving: as Hugging Face's save_pretrained (5 GB). */
  public static final long DEFAULT_SHARD_BYTES = 5_000_000_000L;

  private final Gemma2Config config;
  private final Precision precision;
  private final boolean frozen; // matrices held in 2 bytes (int8 bf16 bits or float16), no grad
  private final NDManager manager; // owns parameters, constants and cached masks
  // HF name -> live parameter, in Gemma2WeightNames order
  private final Map<String, NDArray> params;
  // (V, D), also the head; (D). In pure bf16 a training step swaps in fp32 copies (Bf16Step)
  private NDArray embed;
  private NDArray finalNorm;
  private final boolean bf16Weights; // pure bf16: weights are bf16 bits, updated in backward
  private final NDArray[][] layers; // [layer][Layer.ordinal()]
  private Gemma2Lora lora; // null without adapters

  // Scalar constants made natively once: a Java scalar argument (x.mul(2f), add(Number), ...) is
  // wrapped in a tensor over a Java buffer that is freed at once while autograd keeps a pointer to
  // it for the backward pass, so under GC pressure gradients become NaN or -Inf.
  private final NDArray one;
  private final NDArray eps;
  private final NDArray embedScale; // sqrt(D), as HF's normalizer
  // query_pre_attn_scalar^-0.5, divided by the attention soft-cap when there is one: the scores
  // then come out already divided by the cap, which saves a pass over them before the tanh
  private final NDArray queryScale;
  private final double queryScaleValue; // the same, for the native kernels
  private final NDArray attnCap; // may be null
  private final NDArray finalCap; // may be null
  private final NDArray finalCapInverse; // 1 / finalCap, or null
  private final NDArray geluA; // 2 sqrt(2/pi) 0.044715
  private final NDArray geluB; // 2 sqrt(2/pi)
  private final NDArray maskMagnitude; // 1e9
  private final NDArray minusHalf; // -0.5, the exponent of rsqrt
  private final Map<Long, NDArray> reciprocals = new ConcurrentHashMap<>(); // n -> 1 / n

  // "TxSwW" -> (T, S) additive mask of offset 0, built once per (T, window)
  private final Map<String, NDArray> maskCache =
      new LinkedHashMap<>(16, 0.75f, true) { // least recently used first
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, NDArray> eldest) {
          if (size() > MASK_CACHE_SIZE) {
            eldest.getValue().close(); // autograd keeps its own reference if it still needs it
            return true;
          }
          return false;
        }
      };
  private volatile NDArray[] ropeTables; // {cos, signed sin}, each (P, hd)
  private boolean checkpointing;
  private Pending pending; // the last checkpointed forward, until finishBackward()
  private Bf16Step bf16Step; // pure bf16: the fp32 copies of a training step, until finishBackward

  private Gemma2Model(
      Gemma2Config config,
      Precision precision,
      NDManager manager,
      Map<String, NDArray> params,
      boolean bf16Weights) {
    this.config = config;
    this.precision = precision;
    this.bf16Weights = bf16Weights;
    this.frozen =
        !bf16Weights && params.values().stream().anyMatch(p -> p.getDataType() != DataType.FLOAT32);
    this.manager = manager;
    this.params = Collections.unmodifiableMap(params);
    this.embed = params.get(Gemma2WeightNames.EMBED);
    this.finalNorm = params.get(Gemma2WeightNames.FINAL_NORM);
    this.layers = new NDArray[config.numHiddenLayers()][Layer.values().length];
    for (int i = 0; i < layers.length; i++) {
      for (Layer t : Layer.values()) {
        layers[i][t.ordinal()] = params.get(t.of(i));
      }
    }
    this.one = constant(1f);
    this.eps = constant((float) config.rmsNormEps());
    this.embedScale = constant((float) Math.sqrt(config.hiddenSize()));
    this.queryScaleValue =
        (float)
            (Math.pow(config.queryPreAttnScalar(), -0.5)
                / (config.attnLogitSoftcapping() == null ? 1.0 : config.attnLogitSoftcapping()));
    this.queryScale = constant((float) queryScaleValue);
    this.attnCap =
        config.attnLogitSoftcapping() == null
            ? null
            : constant(config.attnLogitSoftcapping().floatValue());
    this.finalCap =
        config.finalLogitSoftcapping() == null
            ? null
            : constant(config.finalLogitSoftcapping().floatValue());
    this.finalCapInverse =
        config.finalLogitSoftcapping() == null
            ? null
            : constant((float) (1.0 / config.finalLogitSoftcapping()));
    this.geluA = constant((float) (2 * GELU_C * 0.044715));
    this.geluB = constant((float) (2 * GELU_C));
    this.maskMagnitude = constant(-MASKED);
    this.minusHalf = constant(-0.5f);
    requireGradients(!frozen);
  }

  private NDArray constant(float v) {
    NDArray c = manager.full(new Shape(), v); // () fp32
    NDScope.unregister(c);
    return c;
  }

  // ----------------------------------------------------------------------------------------
  // Factories.

  /**
   * A freshly initialised model, deterministic in the seed: linear and embedding weights normal
   * with std 0.02 (Hugging Face's initializer_range), the padding row of the embedding zero, norm
   * weights zero (they are used as 1 + w). The values are drawn in Java, so they do not depend on
   * the device or the engine's seed.
   */
  public static Gemma2Model init(Gemma2Config config, NDManager parent, long seed) {
    return init(config, parent, seed, Precision.FP32);
  }

  /** {@link #init(Gemma2Config, NDManager, long)}, computing in the given precision. */
  public static Gemma2Model init(
      Gemma2Config config, NDManager parent, long seed, Precision precision) {
    return init(config, parent, seed, precision, Hold.TRAINED);
  }

  /**
   * A fresh model that is to be a LoRA student's frozen base ({@link #loadFrozenBase}): in {@link
   * Precision#FP32} exactly {@link #init(Gemma2Config, NDManager, long, Precision)}; otherwise each
   * matrix is rounded to bf16 bits as soon as it is drawn (no fp32 copy of the model), the norms
   * stay fp32.
   */
  public static Gemma2Model initFrozenBase(
      Gemma2Config config, NDManager parent, long seed, Precision precision) {
    return init(config, parent, seed, precision, Hold.baseOf(precision));
  }

  private static Gemma2Model init(
      Gemma2Config config, NDManager parent, long seed, Precision precision, Hold hold) {
    boolean bf16Weights = hold == Hold.TRAINED && precision.updatesInBackward();
    NDManager m = parent.newSubManager();
    Map<String, NDArray> params = new LinkedHashMap<>();
    for (var e : Gemma2WeightNames.shapes(config).entrySet()) {
      String name = e.getKey();
      Shape shape = e.getValue();
      float[] data = new float[Math.toIntExact(shape.size())];
      if (!Gemma2WeightNames.isNorm(name)) {
        SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + name.hashCode());
        for (int i = 0; i < data.length; i++) {
          data[i] = (float) (gaussian(rnd) * 0.02);
        }
      }
      if (name.equals(Gemma2WeightNames.EMBED)
          && config.padTokenId() != null
          && config.padTokenId() < config.vocabSize()) {
        int d = config.hiddenSize();
        Arrays.fill(data, config.padTokenId() * d, (config.padTokenId() + 1) * d, 0f);
      }
      NDArray p;
      try (NDArray wrapped = m.create(data, shape)) { // CPU: wraps JVM direct memory
        p = wrapped.duplicate(); // (shape) in libtorch's memory
      }
      if (bf16Weights || (hold == Hold.FROZEN_BF16 && !Gemma2WeightNames.isNorm(name))) {
        NDArray fp32 = p;
        p = FusedOps.bf16Bits(fp32); // (..., 2 n) int8: the draw rounded to bf16
        fp32.close();
      }
      NDScope.unregister(p);
      params.put(name, p);
    }
    Gemma2Model model = new Gemma2Model(config, precision, m, params, bf16Weights);
    if (hold != Hold.TRAINED) {
      model.requireGradients(false);
    }
    return model;
  }

  /** How a factory holds the weights it makes. */
  private enum Hold {
    /** fp32 parameters that train (pure bf16: bf16 bits updated in backward). */
    TRAINED,
    /**
     * A teacher's: the checkpoint's 2-byte matrices as stored, F32 as fp32 (as bf16 bits in a
     * 2-byte precision), no gradients.
     */
    FROZEN,
    /**
     * A LoRA student's base in a 2-byte precision: every matrix as bf16 bits (BF16 as stored, F32
     * and F16 rounded once, one tensor at a time), norms fp32, no gradients.
     */
    FROZEN_BF16;

    /** A LoRA base: fp32 parameters (frozen by the adapters) in fp32, bf16 bits otherwise. */
    static Hold baseOf(Precision precision) {
      return precision.lowCompute() ? FROZEN_BF16 : TRAINED;
    }
  }

  private static double gaussian(SplittableRandom rnd) {
    // Box-Muller: SplittableRandom has no nextGaussian on Java 17.
    double u1 = 1.0 - rnd.nextDouble();
    double u2 = rnd.nextDouble();
    return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /**
   * Loads a Hugging Face Gemma2ForCausalLM directory: config.json and model.safetensors (or
   * shards), any of F32/BF16/F16, converted to fp32. Errors name the file and the key or tensor.
   */
  public static Gemma2Model load(Path dir, NDManager parent) {
    return load(dir, parent, Precision.FP32, Hold.TRAINED);
  }

  /** {@link #load(Path, NDManager)}, computing in the given precision. */
  public static Gemma2Model load(Path dir, NDManager parent, Precision precision) {
    return load(dir, parent, precision, Hold.TRAINED);
  }

  /**
   * A frozen model (a teacher): its matrices stay in the checkpoint's dtype, so a BF16 or F16
   * checkpoint takes half the bytes of fp32 and is never expanded (each tensor is copied from the
   * file as it is, chunk by chunk); F32 stays fp32 in {@link Precision#FP32} and is rounded once to
   * bf16 bits in the 2-byte precisions, whose products run in bf16. The norms (a few vectors) are
   * fp32. No parameter tracks gradients. In {@link Precision#FP32} the products are computed in
   * fp32 from the exact upcast weights, so the logits equal those of {@link #load} bit for bit;
   * otherwise they run in the weights' dtype.
   */
  public static Gemma2Model loadFrozen(Path dir, NDManager parent, Precision precision) {
    return load(dir, parent, precision, Hold.FROZEN);
  }

  /**
   * A LoRA student's frozen base. In {@link Precision#FP32} exactly {@link #load(Path, NDManager,
   * Precision)} (fp32 weights, which {@link #attach} freezes). In the 2-byte precisions every
   * matrix is held as bf16 bits (int8 pairs), like a teacher's: a BF16 checkpoint as stored, an F32
   * or F16 one rounded to nearest-even bf16 one tensor at a time (the rounding bf16-mixed's
   * products apply to an fp32 weight anyway), so no fp32 copy of the model exists; the norms stay
   * fp32. The products compute in bf16 ({@link FusedOps#frozenLinear}); gradients flow through them
   * to the activations (and so to the adapters and the layers below), never to the base.
   */
  public static Gemma2Model loadFrozenBase(Path dir, NDManager parent, Precision precision) {
    return load(dir, parent, precision, Hold.baseOf(precision));
  }

  private static Gemma2Model load(Path dir, NDManager parent, Precision precision, Hold hold) {
    Gemma2Config config = Gemma2Config.read(dir.resolve("config.json"));
    NDManager m = parent.newSubManager();
    boolean bf16Weights = hold == Hold.TRAINED && precision.updatesInBackward();
    try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(dir)) {
      Map<String, NDArray> params = new LinkedHashMap<>();
      for (var e : Gemma2WeightNames.shapes(config).entrySet()) {
        String name = e.getKey();
        boolean matrix = !Gemma2WeightNames.isNorm(name);
        NDArray p =
            bf16Weights || (hold != Hold.TRAINED && matrix)
                ? ckpt.readStored(name, e.getValue(), m) // 2 bytes stay 2 bytes
                : ckpt.read(name, e.getValue(), m); // fp32
        // an F32 teacher under a 2-byte precision: its products cast it to bf16 anyway, so it is
        // held as bf16 bits (rounded once), the 2 bytes the memory plan counts for a teacher
        boolean toBits =
            bf16Weights
                || (hold == Hold.FROZEN_BF16 && matrix)
                || (hold == Hold.FROZEN
                    && matrix
                    && precision.lowCompute()
                    && p.getDataType() == DataType.FLOAT32);
        if (toBits && p.getDataType() != DataType.INT8) {
          NDArray other = p; // an F32 or F16 checkpoint held as bf16 bits: rounded once
          NDArray fp32 = other.toType(DataType.FLOAT32, false); // F16: a new (transient) array
          p = FusedOps.bf16Bits(fp32);
          if (fp32 != other) {
            fp32.close(); // else it would live in the model's manager as long as the model
          }
          other.close();
        }
        NDScope.unregister(p);
        params.put(name, p);
      }
      Gemma2Model model = new Gemma2Model(config, precision, m, params, bf16Weights);
      if (hold != Hold.TRAINED) {
        model.requireGradients(false);
      }
      return model;
    } catch (RuntimeException e) {
      m.close();
      throw e;
    }
  }

  /**
   * Writes config.json and fp32 model.safetensors (a valid Gemma2ForCausalLM directory): the base
   * weights, without adapters (those save with {@link Gemma2Lora#save}, or fold in first with
   * {@link #mergeAdapters}). Weights held as bf16 bits (pure bf16, a frozen LoRA base) are written
   * as BF16, exactly as held, and the fp32 norms of a frozen base as F32.
   */
  public void save(Path dir) {
    // pure bf16 weights are written as their bf16 bits (exact), whatever the dtype asked for
    save(dir, bf16Weights ? SafetensorsDtype.BF16 : SafetensorsDtype.F32, DEFAULT_SHARD_BYTES);
  }

  /**
   * Writes config.json and the weights, sharded above maxShardBytes (with
   * model.safetensors.index.json). Weight files of an earlier save in the directory are removed
   * first. tokenizer.json is the caller's business.
   *
   * @param dtype F32, BF16 or F16
   */
  public void save(Path dir, SafetensorsDtype dtype, long maxShardBytes) {
    boolean bits = false;
    for (var e : params.entrySet()) {
      DataType t = e.getValue().getDataType();
      if (t != DataType.FLOAT32 && t != DataType.INT8) {
        throw new IllegalStateException(
            "a frozen model holding " + e.getKey() + " as " + t + " is not saved");
      }
      bits |= t == DataType.INT8;
    }
    try {
      Files.createDirectories(dir);
      try (DirectoryStream<Path> old = Files.newDirectoryStream(dir, "model*.safetensors*")) {
        for (Path p : old) {
          Files.delete(p);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(dir + ": cannot prepare: " + e, e);
    }
    String torchDtype =
        bits
            ? "bfloat16" // its matrices are written as the BF16 they are held in
            : switch (dtype) {
              case BF16 -> "bfloat16";
              case F16 -> "float16";
              default -> "float32";
            };
    config.withOverrides(Map.of("torch_dtype", torchDtype)).write(dir.resolve("config.json"));
    SafetensorsWriter.writeSharded(dir, params, dtype, maxShardBytes);
  }

  // ----------------------------------------------------------------------------------------
  // CausalLm.

  /** The config. */
  public Gemma2Config config() {
    return config;
  }

  @Override
  public int vocabSize() {
    return config.vocabSize();
  }

  /** The trainable tensors: the adapters when there are some, else every weight. */
  @Override
  public Map<String, NDArray> parameters() {
    return lora == null ? params : lora.parameters();
  }

  /** Every base weight under its Hugging Face name, adapters or not. */
  public Map<String, NDArray> baseParameters() {
    return params;
  }

  /** The precision its matmuls run in. */
  public Precision precision() {
    return precision;
  }

  /**
   * Whether its weights are pure bf16, updated inside the backward pass ({@link Precision#BF16}).
   */
  public boolean updatesInBackward() {
    return bf16Weights;
  }

  /** Every weight's name and shape (fp32 layout: (..., n), not the (..., 2 n) of bf16 bits). */
  public Map<String, Shape> parameterShapes() {
    return Gemma2WeightNames.shapes(config);
  }

  /** Bytes its parameters take in memory (2 per element of a frozen 2-byte matrix). */
  public long parameterBytes() {
    long bytes = 0;
    for (NDArray p : params.values()) {
      bytes += p.size() * p.getDataType().getNumOfBytes();
    }
    return bytes;
  }

  /**
   * Turns gradient tracking of the trainable tensors on (student) or off (a frozen teacher). With
   * adapters the base stays frozen either way.
   */
  public void requireGradients(boolean on) {
    if (lora != null) {
      lora.requireGradients(on);
      return;
    }
    for (NDArray p : params.values()) {
      if (p.getDataType() == DataType.FLOAT32) {
        p.setRequiresGradient(on && !frozen);
      }
    }
  }

  // ----------------------------------------------------------------------------------------
  // LoRA.

  /**
   * Attaches adapters (made for this config) and freezes the base: from now on only the adapters
   * receive gradients, and the model owns them (closes them with itself).
   */
  public void attach(Gemma2Lora adapters) {
    if (bf16Weights) {
      throw new IllegalStateException("a pure bf16 model trains every weight: no adapters");
    }
    if (lora != null) {
      throw new IllegalStateException("the model already has adapters: merge them first");
    }
    for (NDArray p : params.values()) {
      p.setRequiresGradient(false);
    }
    lora = adapters;
  }

  /** The attached adapters, or null. */
  public Gemma2Lora adapters() {
    return lora;
  }

  /**
   * Folds the adapters into the base weights ({@code W += (alpha / r) B A}) and drops them: the
   * model is then a plain Gemma 2 with every weight trainable again (a frozen base stays frozen;
   * one held as bf16 bits is merged in fp32 and rounded back to bf16, weight by weight). Nothing
   * happens without adapters.
   */
  public void mergeAdapters() {
    if (lora == null) {
      return;
    }
    try (NoGrad ignored = NoGrad.enter()) {
      for (int i = 0; i < layers.length; i++) {
        for (Layer t : Layer.values()) {
          NDArray w = layers[i][t.ordinal()];
          if (w.getDataType() != DataType.INT8) {
            lora.mergeInto(i, t, w);
            continue;
          }
          // a base held as bf16 bits: merged in fp32, one weight at a time, and rounded back
          try (NDArray w32 = FusedOps.bf16Float(w)) { // (out, in) exact
            lora.mergeInto(i, t, w32);
            try (NDArray bits = FusedOps.bf16Bits(w32)) { // (out, 2 in)
              w.set(new NDIndex("..."), bits);
            }
          }
        }
      }
    }
    lora.close();
    lora = null;
    requireGradients(true);
  }

  /**
   * {@inheritDoc}
   *
   * <p>The mask may also number packed documents (0 padding, then 1, 2, ... per document of a row):
   * a token then attends only to earlier tokens of its own document.
   */
  @Override
  public NDArray hidden(NDArray inputIds, NDArray attentionMask) {
    return decode(inputIds, attentionMask, null);
  }

  @Override
  public NDArray logits(NDArray hidden) {
    if (finalCap == null) {
      return linear(hidden, embed); // (B, t, D) @ (D, V) -> (B, t, V) fp32
    }
    // tanh(logits / cap) * cap, the 1 / cap applied to the (B, t, D) input rather than to the
    // (B, t, V) logits: one pass fewer over the larger array (V is 256k for Gemma)
    NDArray scaled = linear(hidden.mul(finalCapInverse), embed); // (B, t, V) fp32
    return scaled.tanh().mul(finalCap); // (B, t, V)
  }

  @Override
  public KvCache newCache() {
    return new KvCache(manager, config.numHiddenLayers());
  }

  @Override
  public NDArray forwardCached(NDArray inputIds, KvCache cache) {
    return logits(decode(inputIds, null, cache)); // (1, t, V)
  }

  // ----------------------------------------------------------------------------------------
  // The decoder.

  /**
   * @param ids (B, T) int64
   * @param attentionMask (B, S) 1/0 or null
   * @param cache null, or the cache of a single sequence (B = 1)
   * @return (B, T, D) after the final norm
   */
  private NDArray decode(NDArray ids, NDArray attentionMask, KvCache cache) {
    long t = ids.getShape().get(1);
    int offset = cache == null ? 0 : cache.length();
    long s = offset + t;
    // pure bf16 always takes the checkpointed path: its update needs each layer's recompute
    boolean checkpointed = (checkpointing || bf16Weights) && cache == null && JniUtils.isGradMode();
    if (checkpointed && bf16Weights) {
      beginBf16Step(); // fp32 copies of the embedding and final norm, with gradients
    }
    NDArray x = embedding(ids).mul(embedScale); // (B, T, D), scaled by sqrt(D)
    NDArray[] rope = rope(offset, t); // cos, signed sin: (1, T, 1, hd) each
    NDArray pad = documentMask(attentionMask); // (B, 1, 1, T, S) or null
    NDArray global = withPad(causalMask(offset, t, s, 0), pad); // (T, S) or (B, 1, 1, T, S)
    NDArray sliding =
        config.slidingWindow() >= s
            ? global
            : withPad(causalMask(offset, t, s, config.slidingWindow()), pad);
    if (checkpointed) {
      return checkpointedLayers(x, rope, global, sliding);
    }
    if (nativePath(cache)) {
      return nativeLayers(x, rope, global, sliding, attentionMask);
    }
    for (int i = 0; i < layers.length; i++) {
      NDArray mask = config.isSliding(i) ? sliding : global;
      if (cache != null) {
        x = layer(i, x, rope, mask, cache); // (B, T, D); the cache keeps this layer's keys
        continue;
      }
      // Without a cache nothing made inside a layer but its output is needed after it: autograd
      // holds its own references to what the backward pass reads, so closing the rest at once
      // keeps only those (rather than every intermediate until the step's manager closes).
      try (NDScope scope = new NDScope()) {
        scope.suppressNotUsedWarning();
        x = layer(i, x, rope, mask, null); // (B, T, D)
        NDScope.unregister(x);
      }
    }
    if (cache != null) {
      cache.advance((int) t);
    }
    return rmsNorm(x, finalNorm); // (B, T, D)
  }

  /**
   * One decoder layer.
   *
   * @param x (B, T, D) the residual stream
   * @param mask the layer's additive mask (sliding or global)
   * @return (B, T, D)
   */
  private NDArray layer(int i, NDArray x, NDArray[] rope, NDArray mask, KvCache cache) {
    NDArray[] w = layers[i];
    NDArray h = rmsNorm(x, w[Layer.INPUT_NORM.ordinal()]); // (B, T, D)
    h = attention(i, h, rope, mask, cache); // (B, T, D)
    h = rmsNorm(h, w[Layer.POST_ATTN_NORM.ordinal()]); // (B, T, D)
    x = x.add(h); // (B, T, D) residual
    h = rmsNorm(x, w[Layer.PRE_FFN_NORM.ordinal()]); // (B, T, D)
    h = mlp(i, h); // (B, T, D)
    h = rmsNorm(h, w[Layer.POST_FFN_NORM.ordinal()]); // (B, T, D)
    return x.add(h); // (B, T, D) residual
  }

  // ----------------------------------------------------------------------------------------
  // Activation checkpointing.
  //
  // DJL has no torch.utils.checkpoint and no custom autograd function, so the backward pass is
  // split by layer: the forward runs every layer without autograd and keeps only its (B, T, D)
  // input; the final norm runs with autograd on a leaf that takes the loss's gradient; then
  // finishBackward() walks the layers in reverse, recomputes each one with autograd from its kept
  // input and injects the gradient of its output (PyTorch's backward(output, grad_output)), which
  // leaves the gradient of its input for the layer below. The same ops on the same inputs: the
  // same values, and gradients equal to the plain path's within float rounding.

  /**
   * Turns per-layer activation checkpointing on or off for forward passes with autograd (a forward
   * under {@link dev.distill.trainer.model.NoGrad} never keeps anything). With it on, a training
   * step must call {@link #finishBackward()} after the loss's backward pass.
   */
  public void setActivationCheckpointing(boolean on) {
    checkpointing = on;
    pending = null;
    nativePending = null;
    endBf16Step(); // drops an unfinished step's copies, if any
  }

  /** What a checkpointed forward keeps until {@link #finishBackward()}. */
  private record Pending(
      NDArray embedded, // (B, T, D) the scaled embedding, with its graph to the embedding
      NDArray[] inputs, // [layer] (B, T, D) each layer's input, without a graph
      NDArray top, // (B, T, D) the last layer's output: a leaf that takes the loss's gradient
      NDArray[] rope,
      NDArray global,
      NDArray sliding) {}

  private NDArray checkpointedLayers(
      NDArray embedded, NDArray[] rope, NDArray global, NDArray sliding) {
    NDArray[] inputs = new NDArray[layers.length];
    NDArray x = embedded.stopGradient(); // (B, T, D) shares the storage, no graph
    try (NoGrad ignored = NoGrad.enter()) {
      for (int i = 0; i < layers.length; i++) {
        inputs[i] = x;
        try (NDScope scope = new NDScope()) { // frees the layer's intermediates at once
          scope.suppressNotUsedWarning();
          x = layer(i, x, rope, config.isSliding(i) ? sliding : global, null); // (B, T, D)
          NDScope.unregister(x);
        }
      }
    }
    x.setRequiresGradient(true); // the leaf the final norm's backward fills
    pending = new Pending(embedded, inputs, x, rope, global, sliding);
    return rmsNorm(x, finalNorm); // (B, T, D)
  }

  /**
   * The rest of the backward pass of the last checkpointed forward: call it once the gradient of
   * the loss has reached the hidden states (after the loss's backward). Recomputes each layer, last
   * first, and back-propagates into its parameters and the layer below, then into the embedding.
   * Does nothing when the last forward was not checkpointed.
   */
  public void finishBackward() {
    if (bf16Weights && pending != null) {
      throw new IllegalStateException(
          "a pure bf16 model updates inside the backward pass: call finishBackward(update)");
    }
    NativePending np = nativePending;
    nativePending = null;
    if (np != null) {
      finishNativeBackward(np);
      return;
    }
    Pending p = pending;
    pending = null;
    if (p == null) {
      return;
    }
    NDArray grad = p.top().getGradient(); // (B, T, D) d loss / d output of the last layer
    for (int i = layers.length - 1; i >= 0; i--) {
      try (NDScope scope = new NDScope()) {
        NDArray in = p.inputs()[i].stopGradient(); // (B, T, D) a fresh leaf on the kept input
        in.setRequiresGradient(true);
        NDArray out = layer(i, in, p.rope(), config.isSliding(i) ? p.sliding() : p.global(), null);
        JniUtils.backward((PtNDArray) out, (PtNDArray) grad, false, false);
        NDArray below = in.getGradient(); // (B, T, D) d loss / d input of layer i
        NDScope.unregister(below);
        grad.close();
        grad = below;
        p.inputs()[i].close(); // no longer needed: the kept inputs shrink as the pass goes down
      }
    }
    if (lora == null) { // with adapters the embedding is frozen: no graph to go on into
      JniUtils.backward((PtNDArray) p.embedded(), (PtNDArray) grad, false, false);
    }
    grad.close();
  }

  // ----------------------------------------------------------------------------------------
  // The native fused CPU path (opt-in: -Ddistill.native_kernels=true).
  //
  // The same layer as layer() above, with its element-wise work in fused C kernels
  // (NativeKernels: RMSNorm, post-norm + residual + next pre-norm, RoPE with the query layout,
  // soft-capped masked softmax, GeGLU) and its backward pass written out by hand: the kernels have
  // no autograd, so a training forward runs every layer without a graph and keeps what the
  // backward reads (as activation checkpointing keeps the layer inputs); the last norm's output is
  // a leaf that takes the loss's gradient; finishBackward() then walks the layers in reverse:
  // each product's two gradient products, each kernel's backward, each weight's gradient added to
  // the parameter's. The residual stream is carried as (x, normed x): a layer's last kernel also
  // makes the next layer's input norm (or the final norm), so its backward gives the gradient of
  // both. Token-wise work runs on the real positions' rows only (Rows): padding costs nothing
  // outside the attention. fp32 on CPU, soft-capped attention, no adapters, no cache, not pure
  // bf16; anything else takes the composed path. Not bit-for-bit with it (other summation orders,
  // approximations of exp and tanh): equal within float rounding, which NativePathTest checks
  // against autograd.

  private boolean nativeKernels = Boolean.getBoolean(NativeKernels.SWITCH);

  /**
   * Puts this model's fp32 CPU forward passes (and their backward) on the native kernels, or back
   * on the composed ops. Default: the system property {@link NativeKernels#SWITCH}.
   */
  public void setNativeKernels(boolean on) {
    nativeKernels = on;
    nativePending = null;
  }

  /**
   * Whether this model's forward passes without a cache run on the native path: the switch is on
   * and the model qualifies (fp32 on CPU, soft-capped attention, no adapters, no checkpointing).
   *
   * @throws IllegalStateException when the switch is on and the library cannot be loaded
   */
  public boolean usesNativeKernels() {
    return nativePath(null);
  }

  private boolean nativePath(KvCache cache) {
    return nativeKernels
        && cache == null
        && lora == null
        && !bf16Weights
        && !frozen
        && !checkpointing
        && precision == Precision.FP32
        && attnCap != null
        && embed.getDataType() == DataType.FLOAT32
        && "cpu".equals(embed.getDevice().getDeviceType())
        && NativeKernels.require();
  }

  /** What a layer's native training forward keeps for its backward. */
  private record Saved(
      NDArray h1, // (N, D) input norm's output
      NDArray qr, // (B, KV, G*T, hd) roped, scaled queries
      NDArray kr, // (B, KV, S, hd) roped keys
      NDArray v, // (B, KV, S, hd)
      NDArray s, // (B, KV, G*T, S) scores / cap
      NDArray p, // (B, KV, G*T, S) probabilities
      NDArray a, // (N, H*hd) attention output before o_proj
      NDArray o, // (N, D) o_proj's output
      NDArray x2, // (N, D) the residual stream after attention
      NDArray rstdO, // (N, 1)
      NDArray rstdX2, // (N, 1)
      NDArray h3, // (N, D) pre-FFN norm's output
      NDArray gate, // (N, I)
      NDArray up, // (N, I)
      NDArray act, // (N, I) GeGLU's output
      NDArray down, // (N, D)
      NDArray x3, // (N, D) the layer's output
      NDArray rstdDown, // (N, 1)
      NDArray rstdX3, // (N, 1) of the norm after the layer
      NDArray next) {} // (N, D) the norm after the layer: the next layer's input norm or the final

  /**
   * The positions a native forward computes token by token. Its token-wise work (norms,
   * projections, GeGLU, residual adds) runs on the rows of the real positions only, (N, C) with N
   * the tokens whose attention mask is not 0; the attention runs on the (B, T) grid, its inputs
   * scattered there (zeros at padded positions) and its output gathered back. So padding costs
   * nothing outside the attention: the products and kernels shrink by the batch's padded share.
   * Padded positions are hidden (masked as keys) and out of every loss, so nothing read changes;
   * the hidden states returned there are zero. Without padding (or mask) the layout is (B, T, C)
   * and both conversions are the identity.
   *
   * @param index (N) int64 flat positions b * T + t of the real tokens, or null: every position
   */
  private record Rows(long b, long t, NDArray index) {

    /**
     * @param attentionMask (B, T) 0 at padding, or null
     */
    static Rows of(NDArray attentionMask, long b, long t) {
      if (attentionMask == null || b * t >= 1L << 24) { // scatterRows takes the count as fp32
        return new Rows(b, t, null);
      }
      NDArray nz = attentionMask.reshape(-1).nonzero(); // (N, 1) int64
      long n = nz.getShape().get(0);
      if (n == b * t || n == 0) {
        nz.close();
        return new Rows(b, t, null);
      }
      return new Rows(b, t, nz.reshape(-1)); // (N)
    }

    /** (B, T, C) to the token-wise layout: (N, C), or unchanged without padding. */
    NDArray rows(NDArray grid) {
      if (index == null) {
        return grid;
      }
      long c = grid.getShape().getLastDimension();
      return NativeKernels.selectRows(grid.reshape(b * t, c), index); // (N, C)
    }

    /** The token-wise layout to (B, T, C), zeros at padded positions. */
    NDArray grid(NDArray rows) {
      if (index == null) {
        return rows;
      }
      long c = rows.getShape().get(1);
      return NativeKernels.scatterRows(rows, index, b * t).reshape(b, t, c); // (B, T, C)
    }
  }

  /** What a native training forward keeps until {@link #finishBackward()}. */
  private record NativePending(
      NDArray embedded, // (B, T, D) the scaled embedding, with its graph to the embedding
      NDArray x0, // (N, D) its rows, no graph: the first input norm's input
      NDArray rstd0, // (N, 1) the first input norm's
      Saved[] layers,
      NDArray top, // (B, T, D) the final norm's output: a leaf that takes the loss's gradient
      NDArray[] rope, // cos, signed sin: (1, T, 1, hd)
      Rows rows) {}

  private NativePending nativePending;

  /**
   * The decoder on the native path.
   *
   * @param embedded (B, T, D) the scaled embedding
   * @param attentionMask (B, T) 0 at padding, or null
   * @return (B, T, D) after the final norm (zero at padded positions)
   */
  private NDArray nativeLayers(
      NDArray embedded, NDArray[] rope, NDArray global, NDArray sliding, NDArray attentionMask) {
    boolean training = JniUtils.isGradMode();
    nativePending = null;
    Saved[] saved = training ? new Saved[layers.length] : null;
    NDArray rstd0;
    NDArray x0;
    NDArray x;
    NDArray h;
    Rows rows;
    try (NoGrad ignored = NoGrad.enter()) {
      rows = Rows.of(attentionMask, embedded.getShape().get(0), embedded.getShape().get(1));
      x0 = rows.rows(embedded.stopGradient()); // (N, D) no graph
      x = x0;
      NDList first =
          NativeKernels.rmsNormForward(
              x, layers[0][Layer.INPUT_NORM.ordinal()], config.rmsNormEps());
      h = first.get(0); // (N, D)
      rstd0 = first.get(1); // (N, 1)
      for (int i = 0; i < layers.length; i++) {
        NDArray mask = config.isSliding(i) ? sliding : global;
        NDArray next =
            i + 1 < layers.length ? layers[i + 1][Layer.INPUT_NORM.ordinal()] : finalNorm;
        if (training) {
          saved[i] = nativeLayer(i, x, h, rope, mask, next, rows);
          x = saved[i].x3();
          h = saved[i].next();
        } else {
          try (NDScope scope = new NDScope()) { // frees the layer's intermediates at once
            scope.suppressNotUsedWarning();
            Saved s = nativeLayer(i, x, h, rope, mask, next, rows);
            x = s.x3();
            h = s.next();
            NDScope.unregister(x, h);
          }
        }
      }
      h = rows.grid(h); // (B, T, D)
    }
    if (!training) {
      return h; // (B, T, D)
    }
    h.setRequiresGradient(true); // the leaf the loss's backward fills
    nativePending = new NativePending(embedded, x0, rstd0, saved, h, rope, rows);
    return h;
  }

  /**
   * One layer's native forward, no graph.
   *
   * @param x (N, D) the residual stream
   * @param h1 (N, D) its input norm
   * @param nextNorm (D) the weight of the norm after this layer
   * @return what the backward reads, and the layer's outputs
   */
  private Saved nativeLayer(
      int i, NDArray x, NDArray h1, NDArray[] rope, NDArray mask, NDArray nextNorm, Rows rows) {
    NDArray[] w = layers[i];
    long b = rows.b();
    long t = rows.t();
    int h = config.numAttentionHeads();
    int kv = config.numKeyValueHeads();
    int g = config.groupSize();
    int hd = config.headDim();
    NDArray q = rows.grid(linear(h1, w[Layer.Q_PROJ.ordinal()])); // (B, T, H*hd)
    NDArray k = rows.grid(linear(h1, w[Layer.K_PROJ.ordinal()])); // (B, T, KV*hd)
    NDArray v =
        rows.grid(linear(h1, w[Layer.V_PROJ.ordinal()])) // (B, T, KV*hd)
            .reshape(b, t, kv, hd)
            .transpose(0, 2, 1, 3)
            .reshape(b, kv, t, hd); // (B, KV, T, hd) contiguous: both its products read it
    NDArray[] qk = ropeQk(q, k, rope); // (B, KV, G*T, hd), (B, KV, T, hd)
    NDArray s = qk[0].matMul(qk[1].transpose(0, 1, 3, 2)); // (B, KV, G*T, S)
    NDArray p = NativeKernels.softcapSoftmaxForward(s, mask, config.attnLogitSoftcapping());
    NDArray a =
        rows.rows(
            p.matMul(v) // (B, KV, G*T, hd)
                .reshape(b, kv, g, t, hd)
                .transpose(0, 3, 1, 2, 4)
                .reshape(b, t, h * hd)); // (N, H*hd)
    NDArray o = linear(a, w[Layer.O_PROJ.ordinal()]); // (N, D)
    NDList mid = addNorm2(x, o, w[Layer.POST_ATTN_NORM.ordinal()], w[Layer.PRE_FFN_NORM.ordinal()]);
    NDArray x2 = mid.get(0); // (N, D)
    NDArray h3 = mid.get(1); // (N, D)
    NDArray gate = linear(h3, w[Layer.GATE_PROJ.ordinal()]); // (N, I)
    NDArray up = linear(h3, w[Layer.UP_PROJ.ordinal()]); // (N, I)
    NDArray act = NativeKernels.gegluForward(gate, up); // (N, I)
    NDArray down = linear(act, w[Layer.DOWN_PROJ.ordinal()]); // (N, D)
    NDList end = addNorm2(x2, down, w[Layer.POST_FFN_NORM.ordinal()], nextNorm);
    return new Saved(
        h1,
        qk[0],
        qk[1],
        v,
        s,
        p,
        a,
        o,
        x2,
        mid.get(2),
        mid.get(3),
        h3,
        gate,
        up,
        act,
        down,
        end.get(0),
        end.get(2),
        end.get(3),
        end.get(1));
  }

  /**
   * {@code x2 = x + norm(o, w1); y = norm(x2, w2)}.
   *
   * @return x2, y (N, D); rstd of o, rstd of x2 (N, 1)
   */
  private NDList addNorm2(NDArray x, NDArray o, NDArray w1, NDArray w2) {
    return NativeKernels.addRmsNorm2Forward(x, o, w1, w2, config.rmsNormEps());
  }

  /**
   * RoPE on the projections, the query scale, and the attention's layout.
   *
   * @param q (B, T, H*hd)
   * @param k (B, T, KV*hd)
   * @param rope cos, signed sin: (1, T, 1, hd)
   * @return (B, KV, G*T, hd) scaled queries, (B, KV, T, hd) keys, contiguous
   */
  private NDArray[] ropeQk(NDArray q, NDArray k, NDArray[] rope) {
    NDList out =
        NativeKernels.ropeQkForward(q, k, rope[0], rope[1], queryScaleValue, config.groupSize());
    return new NDArray[] {out.get(0), out.get(1)};
  }

  /**
   * The backward of {@link #ropeQk}.
   *
   * @param dQr (B, KV, G*T, hd)
   * @param dKr (B, KV, T, hd)
   * @return (B, T, H*hd), (B, T, KV*hd)
   */
  private NDArray[] ropeQkBackward(NDArray dQr, NDArray dKr, NDArray[] rope) {
    NDList out =
        NativeKernels.ropeQkBackward(
            dQr, dKr, rope[0], rope[1], queryScaleValue, config.groupSize());
    return new NDArray[] {out.get(0), out.get(1)};
  }

  /** The backward pass of a native training forward; see {@link #finishBackward()}. */
  private void finishNativeBackward(NativePending np) {
    Map<NDArray, NDArray> grads = new IdentityHashMap<>(); // parameter -> its gradient this pass
    NDArray dx0;
    try (NoGrad ignored = NoGrad.enter()) {
      NDArray dNorm = np.rows().rows(np.top().getGradient()); // (N, D) d loss / d final norm
      NDArray dRes = dNorm.zerosLike(); // (N, D) nothing reaches the last residual directly
      for (int i = layers.length - 1; i >= 0; i--) {
        try (NDScope scope = new NDScope()) {
          scope.suppressNotUsedWarning();
          NDArray next =
              i + 1 < layers.length ? layers[i + 1][Layer.INPUT_NORM.ordinal()] : finalNorm;
          NDArray[] d =
              nativeLayerBackward(
                  i, np.layers()[i], dRes, dNorm, next, np.rope(), np.rows(), grads);
          NDScope.unregister(d);
          for (NDArray g : grads.values()) {
            NDScope.unregister(g);
          }
          dRes = d[0];
          dNorm = d[1];
          np.layers()[i] = null; // its activations go with the step's manager
        }
      }
      NDList first =
          NativeKernels.rmsNormBackward(
              dNorm,
              np.x0(),
              layers[0][Layer.INPUT_NORM.ordinal()],
              np.rstd0()); // dx (N, D), dw (D)
      dx0 = np.rows().grid(first.get(0).add(dRes)); // (B, T, D), zeros at padded positions
      accumulate(grads, layers[0][Layer.INPUT_NORM.ordinal()], first.get(1));
    }
    for (var e : grads.entrySet()) {
      addGradient(e.getKey(), e.getValue());
    }
    JniUtils.backward((PtNDArray) np.embedded(), (PtNDArray) dx0, false, false);
  }

  /**
   * One layer's backward.
   *
   * @param dRes (B, T, D) the gradient reaching the layer's output directly
   * @param dNorm (B, T, D) the gradient of the norm after the layer
   * @return the gradients of its input's residual stream and input norm, (B, T, D) each
   */
  private NDArray[] nativeLayerBackward(
      int i,
      Saved f,
      NDArray dRes,
      NDArray dNorm,
      NDArray nextNorm,
      NDArray[] rope,
      Rows rows,
      Map<NDArray, NDArray> grads) {
    NDArray[] w = layers[i];
    long b = rows.b();
    long t = rows.t();
    int h = config.numAttentionHeads();
    int kv = config.numKeyValueHeads();
    int g = config.groupSize();
    int hd = config.headDim();
    NDList end =
        NativeKernels.addRmsNorm2Backward(
            dRes,
            dNorm,
            f.down(),
            f.x3(),
            w[Layer.POST_FFN_NORM.ordinal()],
            nextNorm,
            f.rstdDown(),
            f.rstdX3()); // dx2, ddown (N, D); dw post-FFN, dw next (D)
    accumulate(grads, w[Layer.POST_FFN_NORM.ordinal()], end.get(2));
    accumulate(grads, nextNorm, end.get(3));
    NDArray dAct = productBackward(grads, w[Layer.DOWN_PROJ.ordinal()], end.get(1), f.act(), null);
    NDList gu = NativeKernels.gegluBackward(dAct, f.gate(), f.up()); // (N, I) each
    NDArray dH3 = productBackward(grads, w[Layer.GATE_PROJ.ordinal()], gu.get(0), f.h3(), null);
    productBackward(grads, w[Layer.UP_PROJ.ordinal()], gu.get(1), f.h3(), dH3); // (N, D)
    NDList mid =
        NativeKernels.addRmsNorm2Backward(
            end.get(0),
            dH3,
            f.o(),
            f.x2(),
            w[Layer.POST_ATTN_NORM.ordinal()],
            w[Layer.PRE_FFN_NORM.ordinal()],
            f.rstdO(),
            f.rstdX2()); // dx, do (N, D); dw post-attn, dw pre-FFN (D)
    accumulate(grads, w[Layer.POST_ATTN_NORM.ordinal()], mid.get(2));
    accumulate(grads, w[Layer.PRE_FFN_NORM.ordinal()], mid.get(3));
    NDArray dA =
        rows.grid(productBackward(grads, w[Layer.O_PROJ.ordinal()], mid.get(1), f.a(), null))
            .reshape(b, t, kv, g, hd) // from (B, T, H*hd), zeros at padded positions
            .transpose(0, 2, 3, 1, 4)
            .reshape(b, kv, g * t, hd); // (B, KV, G*T, hd)
    NDArray dP = dA.matMul(f.v().transpose(0, 1, 3, 2)); // (B, KV, G*T, S)
    NDArray dV = f.p().transpose(0, 1, 3, 2).matMul(dA); // (B, KV, S, hd)
    NDArray dS =
        NativeKernels.softcapSoftmaxBackward(
            dP, f.p(), f.s(), config.attnLogitSoftcapping()); // (B, KV, G*T, S)
    NDArray dQr = dS.matMul(f.kr()); // (B, KV, G*T, hd)
    NDArray dKr = dS.transpose(0, 1, 3, 2).matMul(f.qr()); // (B, KV, S, hd)
    NDArray[] dqk = ropeQkBackward(dQr, dKr, rope); // (B, T, H*hd), (B, T, KV*hd)
    NDArray dVflat = dV.transpose(0, 2, 1, 3).reshape(b, t, kv * hd); // (B, T, KV*hd)
    NDArray dH1 = // (N, D)
        productBackward(grads, w[Layer.Q_PROJ.ordinal()], rows.rows(dqk[0]), f.h1(), null);
    productBackward(grads, w[Layer.K_PROJ.ordinal()], rows.rows(dqk[1]), f.h1(), dH1);
    productBackward(grads, w[Layer.V_PROJ.ordinal()], rows.rows(dVflat), f.h1(), dH1);
    return new NDArray[] {mid.get(0), dH1};
  }

  /**
   * The two gradients of {@code y = x W^T}: adds {@code dy^T x} to W's gradient and returns {@code
   * dy W}, or adds it to {@code into}. Where W already has a gradient (every step after the first)
   * and nothing else this pass has added to it, the GEMM accumulates into it in place ({@code
   * addmm_}, beta 1), as it does into {@code into}: no temporary, no separate add.
   *
   * @param dy (..., out): (N, out) or (B, T, out)
   * @param x (..., in), the same leading dimensions
   * @param into (..., in) contiguous, or null
   * @return (..., in): a new array, or {@code into}
   */
  private static NDArray productBackward(
      Map<NDArray, NDArray> grads, NDArray w, NDArray dy, NDArray x, NDArray into) {
    long out = dy.getShape().getLastDimension();
    long in = x.getShape().getLastDimension();
    NDArray dy2 = dy.reshape(-1, out); // (rows, out)
    NDArray x2 = x.reshape(-1, in); // (rows, in)
    try (NDArray existing = // (out, in), or null: none yet (null from libtorch), or one this pass
        grads.containsKey(w) || !w.hasGradient() ? null : JniUtils.getGradient((PtNDArray) w)) {
      if (existing != null) {
        NativeKernels.addProduct(existing, dy2.transpose(), x2);
      } else {
        accumulate(grads, w, dy2.transpose().matMul(x2)); // (out, in)
      }
    }
    if (into == null) {
      return dy.matMul(w); // (..., out) @ (out, in) -> (..., in)
    }
    NativeKernels.addProduct(into.reshape(-1, in), dy2, w); // (rows, in) += (rows, out) @ (out, in)
    return into;
  }

  private static void accumulate(Map<NDArray, NDArray> grads, NDArray w, NDArray g) {
    NDArray old = grads.get(w);
    if (old == null) {
      grads.put(w, g);
    } else {
      old.addi(g);
    }
  }

  /**
   * Adds a gradient to a parameter's, as a backward pass would: in place when the parameter has
   * one, otherwise through autograd ({@code backward(w * 1, g)}), which creates it.
   */
  private void addGradient(NDArray w, NDArray g) {
    try (NDArray existing = w.hasGradient() ? JniUtils.getGradient((PtNDArray) w) : null) {
      if (existing != null) {
        try (NoGrad ignored = NoGrad.enter()) {
          existing.addi(g);
        }
        return;
      }
    }
    NDArray sink = w.mul(one);
    JniUtils.backward((PtNDArray) sink, (PtNDArray) g, false, false);
    sink.close();
  }

  // ----------------------------------------------------------------------------------------
  // Pure bf16: the optimiser step inside the backward pass.

  /**
   * Updates weights in place from their gradients: the optimiser's side of {@link
   * #finishBackward(WeightUpdate)} (AdamW's {@code updateInBackward}).
   */
  @FunctionalInterface
  public interface WeightUpdate {
    /**
     * @param weights name to fp32 weight (a transient copy) whose gradient is set; update in place
     */
    void apply(Map<String, NDArray> weights);
  }

  /** The fp32 copies a pure bf16 training step holds from its forward pass to its update. */
  private record Bf16Step(NDArray embedBits, NDArray finalNormBits) {}

  private void beginBf16Step() {
    endBf16Step(); // a forward whose backward never finished: its copies are dropped unused
    NDArray e32;
    NDArray n32;
    try (NoGrad ignored = NoGrad.enter()) {
      e32 = FusedOps.bf16Float(embed); // (V, D) fp32, exact
      n32 = FusedOps.bf16Float(finalNorm); // (D)
    }
    NDScope.unregister(e32, n32);
    e32.setRequiresGradient(true);
    n32.setRequiresGradient(true);
    bf16Step = new Bf16Step(embed, finalNorm);
    embed = e32;
    finalNorm = n32;
  }

  /** Puts the bits back in place of the step's copies and frees the copies. */
  private void endBf16Step() {
    Bf16Step step = bf16Step;
    if (step == null) {
      return;
    }
    bf16Step = null;
    pending = null;
    embed.close();
    finalNorm.close();
    embed = step.embedBits();
    finalNorm = step.finalNormBits();
  }

  /**
   * The backward pass of a pure bf16 training step, with its optimiser step inside it: for each
   * layer, last first, fp32 copies of its weights are made, the layer is recomputed and
   * back-propagated, {@code update} changes the copies from their gradients, and they are written
   * back as bf16 (round to nearest even) and dropped; then the embedding (also the head) and the
   * final norm, once the embedding's gradient is complete. Call it once after the loss's backward.
   * A model that is not pure bf16 ignores the update and finishes as {@link #finishBackward()}.
   *
   * <p>If {@code update} throws (AdamW refuses a NaN or infinite gradient), the pass stops there:
   * the layers above it keep their new weights and the rest keep their old ones, a model no
   * checkpoint may be written from; the step's copies are dropped either way.
   */
  public void finishBackward(WeightUpdate update) {
    if (!bf16Weights) {
      finishBackward();
      return;
    }
    Pending p = pending;
    pending = null;
    if (p == null || bf16Step == null) {
      throw new IllegalStateException("finishBackward without a pure bf16 training forward");
    }
    try {
      NDArray grad = p.top().getGradient(); // (B, T, D) d loss / d output of the last layer
      for (int i = layers.length - 1; i >= 0; i--) {
        try (NDScope scope = new NDScope()) {
          NDArray in = p.inputs()[i].stopGradient(); // (B, T, D) a fresh leaf on the kept input
          in.setRequiresGradient(true);
          NDArray[] bits = layers[i];
          Map<String, NDArray> copies = new LinkedHashMap<>();
          NDArray[] w32 = new NDArray[bits.length];
          try (NoGrad ignored = NoGrad.enter()) {
            for (Layer t : Layer.values()) {
              w32[t.ordinal()] = FusedOps.bf16Float(bits[t.ordinal()]); // fp32, exact
              copies.put(t.of(i), w32[t.ordinal()]);
            }
          }
          for (NDArray w : w32) {
            w.setRequiresGradient(true);
          }
          layers[i] = w32; // the recompute reads the copies
          try {
            NDArray out =
                layer(i, in, p.rope(), config.isSliding(i) ? p.sliding() : p.global(), null);
            JniUtils.backward((PtNDArray) out, (PtNDArray) grad, false, false);
          } finally {
            layers[i] = bits;
          }
          NDArray below = in.getGradient(); // (B, T, D) d loss / d input of layer i
          NDScope.unregister(below);
          update.apply(copies);
          writeBack(copies);
          grad.close();
          grad = below;
          p.inputs()[i].close();
        }
      }
      JniUtils.backward((PtNDArray) p.embedded(), (PtNDArray) grad, false, false);
      grad.close();
      Map<String, NDArray> ends = new LinkedHashMap<>();
      ends.put(Gemma2WeightNames.EMBED, embed);
      ends.put(Gemma2WeightNames.FINAL_NORM, finalNorm);
      update.apply(ends);
      writeBack(ends);
    } finally {
      endBf16Step();
    }
  }

  /**
   * Drops the backward pass the last training forward left pending (checkpointed layers, pure
   * bf16's fp32 copies) without running it: nothing is updated. For a step given up before its
   * backward (a loss that is not finite).
   */
  public void abandonBackward() {
    pending = null;
    nativePending = null;
    endBf16Step();
  }

  /** Rounds updated fp32 copies to bf16 and copies the bits into the held weights, in place. */
  private void writeBack(Map<String, NDArray> copies) {
    try (NoGrad ignored = NoGrad.enter()) {
      for (var e : copies.entrySet()) {
        try (NDArray bits = FusedOps.bf16Bits(e.getValue())) { // (..., 2 n) int8
          params.get(e.getKey()).set(new NDIndex("..."), bits);
        }
      }
    }
  }

  /** (B, T) ids -> (B, T, D) rows of the embedding, fp32. */
  private NDArray embedding(NDArray ids) {
    if (embed.getDataType() != DataType.FLOAT32) {
      return FusedOps.frozenEmbedding(ids, embed); // (B, T, D) from 2-byte rows
    }
    return ids.getNDArrayInternal().embedding(ids, embed, SparseFormat.DENSE).singletonOrThrow();
  }

  /**
   * Gemma's RMSNorm: {@code x * rsqrt(mean(x^2) + eps) * (1 + w)}. mean(x^2) is taken as ||x||^2 /
   * D: the L2 norm is one fused pass (and one backward) with no (..., D) temporary, which halves
   * the cost of the norm against square-mean-divide. At x = 0 libtorch's norm backward gives 0, the
   * true derivative of ||x||^2, so padding rows stay finite.
   *
   * @param x (..., D)
   * @param w (D)
   * @return (..., D)
   */
  NDArray rmsNorm(NDArray x, NDArray w) {
    if (w.getDataType() != DataType.FLOAT32) {
      w = FusedOps.bf16Float(w); // (D) pure bf16's bits, exactly upcast
      w.attach(x.getManager()); // freed with the activations, not kept by the model
    }
    long d = x.getShape().get(x.getShape().dimension() - 1);
    NDArray l2 = x.norm(new int[] {-1}, true); // (..., 1) ||x||
    NDArray r = l2.square().mul(reciprocal(d)).add(eps).pow(minusHalf); // (..., 1) rsqrt(ms + eps)
    return x.mul(r).mul(w.add(one)); // (..., D)
  }

  /** 1 / n as a native scalar constant, made once per n. */
  private NDArray reciprocal(long n) {
    return reciprocals.computeIfAbsent(n, k -> constant((float) (1.0 / k)));
  }

  /**
   * Grouped-query attention with RoPE, query scaling, soft-capping and an additive mask.
   *
   * @param x (B, T, D) normed input
   * @param rope cos, signed sin: (1, T, 1, hd)
   * @param mask (T, S) or (B, 1, 1, T, S) additive
   * @return (B, T, D)
   */
  private NDArray attention(int layer, NDArray x, NDArray[] rope, NDArray mask, KvCache cache) {
    long b = x.getShape().get(0);
    long t = x.getShape().get(1);
    int h = config.numAttentionHeads();
    int kv = config.numKeyValueHeads();
    int g = config.groupSize();
    int hd = config.headDim();
    NDArray q;
    NDArray k;
    NDArray v;
    NDArray[] w = layers[layer];
    if (mergedProducts(w[Layer.Q_PROJ.ordinal()])) {
      // one product for the three (fp32): (B, T, H*hd), (B, T, KV*hd), (B, T, KV*hd) views
      NDList qkv =
          FusedOps.linear3(
              x, w[Layer.Q_PROJ.ordinal()], w[Layer.K_PROJ.ordinal()], w[Layer.V_PROJ.ordinal()]);
      q = qkv.get(0).reshape(b, t, h, hd); // (B, T, H, hd)
      k = qkv.get(1).reshape(b, t, kv, hd); // (B, T, KV, hd)
      v = qkv.get(2).reshape(b, t, kv, hd); // (B, T, KV, hd)
    } else {
      q = project(layer, Layer.Q_PROJ, x).reshape(b, t, h, hd); // (B, T, H, hd)
      k = project(layer, Layer.K_PROJ, x).reshape(b, t, kv, hd); // (B, T, KV, hd)
      v = project(layer, Layer.V_PROJ, x).reshape(b, t, kv, hd); // (B, T, KV, hd)
    }
    q = applyRope(q, rope).mul(queryScale); // (B, T, H, hd) scaled by scalar^-0.5 [/ cap]
    k = applyRope(k, rope); // (B, T, KV, hd)
    // Head h uses key/value head h / G (as HF's repeat_kv): group the G query heads of a kv head as
    // rows.
    q =
        q.reshape(b, t, kv, g, hd)
            .transpose(0, 2, 3, 1, 4)
            .reshape(b, kv, g * t, hd); // (B, KV, G*T, hd)
    k = k.transpose(0, 2, 1, 3); // (B, KV, T, hd)
    v = v.transpose(0, 2, 1, 3); // (B, KV, T, hd)
    if (cache != null) {
      if (cache.keys(layer) != null) {
        k = NDArrays.concat(new NDList(cache.keys(layer), k), 2); // (1, KV, S, hd)
        v = NDArrays.concat(new NDList(cache.values(layer), v), 2); // (1, KV, S, hd)
      }
      cache.put(layer, k, v);
    }
    long s = k.getShape().get(2);
    NDArray out;
    if (attnCap == null && FusedOps.enabled()) {
      // No soft-cap: one fused kernel (flash where it applies), the G query heads of a kv head as
      // rows, so grouped-query attention needs no repeated keys.
      NDArray rows =
          groupMask(mask, g, t, s); // (T, S) -> (G*T, S); (B, 1, 1, T, S) -> (B, 1, G*T, S)
      out = FusedOps.attention(q, k, v, rows, precision.lowCompute()); // (B, KV, G*T, hd)
    } else {
      NDArray scores =
          matMul(
              q, k.transpose(0, 1, 3, 2)); // (B, KV, G*T, hd) @ (B, KV, hd, S) -> (B, KV, G*T, S)
      if (attnCap != null) {
        scores = scores.tanh().mul(attnCap); // (B, KV, G*T, S) tanh(s / cap) * cap, s / cap from q
      }
      scores = scores.reshape(b, kv, g, t, s).add(mask); // (B, KV, G, T, S) hidden keys at -1e9
      NDArray probs = scores.softmax(-1).reshape(b, kv, g * t, s); // (B, KV, G*T, S) fp32
      out = matMul(probs, v); // (B, KV, G*T, hd)
    }
    out =
        out.reshape(b, kv, g, t, hd).transpose(0, 3, 1, 2, 4).reshape(b, t, h * hd); // (B, T, H*hd)
    return project(layer, Layer.O_PROJ, out); // (B, T, D)
  }

  /**
   * The additive mask of each query row of {@code (B, KV, G*T, hd)}: row {@code g T + i} is query
   * i.
   *
   * @param mask (T, S) or (B, 1, 1, T, S)
   * @return (G*T, S) or (B, 1, G*T, S)
   */
  private static NDArray groupMask(NDArray mask, int g, long t, long s) {
    if (mask.getShape().dimension() == 2) {
      return mask.reshape(1, t, s).broadcast(g, t, s).reshape(g * t, s); // (G*T, S)
    }
    long b = mask.getShape().get(0);
    return mask.reshape(b, 1, 1, t, s)
        .broadcast(b, 1, g, t, s)
        .reshape(b, 1, g * t, s); // (B, 1, G*T, S)
  }

  /**
   * GeGLU: {@code down(gelu_tanh(gate(x)) * up(x))}.
   *
   * @param x (B, T, D)
   * @return (B, T, D)
   */
  private NDArray mlp(int layer, NDArray x) {
    NDArray[] w = layers[layer];
    if (mergedProducts(w[Layer.GATE_PROJ.ordinal()])) {
      // gate and up as one product (fp32), GeGLU on its halves
      NDArray act =
          FusedOps.gegluLinear(x, w[Layer.GATE_PROJ.ordinal()], w[Layer.UP_PROJ.ordinal()]);
      return project(layer, Layer.DOWN_PROJ, act); // (B, T, D)
    }
    NDArray gate = project(layer, Layer.GATE_PROJ, x); // (B, T, I)
    NDArray up = project(layer, Layer.UP_PROJ, x); // (B, T, I)
    return project(layer, Layer.DOWN_PROJ, geglu(gate, up)); // (B, T, D)
  }

  /**
   * {@code gelu_tanh(gate) * up}: one libtorch kernel each way through {@link FusedOps}, or
   * composed from DJL ops when that is switched off.
   *
   * @param gate (B, T, I)
   * @param up (B, T, I)
   * @return (B, T, I)
   */
  NDArray geglu(NDArray gate, NDArray up) {
    return FusedOps.enabled() ? FusedOps.geglu(gate, up) : geluTanh(gate).mul(up);
  }

  /**
   * gelu_pytorch_tanh: {@code 0.5 x (1 + tanh(u))} with {@code u = sqrt(2/pi) (x + 0.044715 x^3)},
   * computed as {@code x * sigmoid(2u)} (the same function, since {@code 0.5 (1 + tanh(u)) =
   * sigmoid(2u)}) because it makes fewer passes over the (B, T, I) activations: about 40% less time
   * forward and backward than the literal formula.
   *
   * @param x any shape
   * @return same shape
   */
  NDArray geluTanh(NDArray x) {
    NDArray twoU = x.mul(x.square().mul(geluA).add(geluB)); // 2u = x (2c + 2c 0.044715 x^2)
    return x.mul(Activation.sigmoid(twoU));
  }

  /**
   * Whether a layer's q/k/v and gate/up products run as one product each ({@link FusedOps#linear3},
   * {@link FusedOps#gegluLinear}): fp32 weights in fp32 compute, no adapters, fused ops on, and
   * {@link FusedOps#mergedProducts()}.
   */
  private boolean mergedProducts(NDArray w) {
    return lora == null
        && !precision.lowCompute()
        && w.getDataType() == DataType.FLOAT32
        && FusedOps.enabled()
        && FusedOps.mergedProducts();
  }

  /**
   * A projection of a layer: {@code x W^T}, plus the LoRA update {@code (alpha / r) dropout(x) A^T
   * B^T} when the projection has an adapter.
   *
   * @param x (B, T, in)
   * @return (B, T, out)
   */
  private NDArray project(int layer, Layer t, NDArray x) {
    NDArray y = linear(x, layers[layer][t.ordinal()]); // (B, T, out)
    return lora == null ? y : lora.addTo(layer, t, x, y);
  }

  /**
   * torch.nn.Linear without bias: (..., in) @ (out, in)^T -> (..., out), fp32 out. A DJL matmul in
   * fp32; bf16 inside {@link FusedOps} otherwise; a frozen 2-byte weight is read there too.
   */
  private NDArray linear(NDArray x, NDArray w) {
    if (w.getDataType() != DataType.FLOAT32) {
      return FusedOps.frozenLinear(x, w, precision.lowCompute());
    }
    return precision.lowCompute() ? FusedOps.linearBf16(x, w) : x.matMul(w.transpose());
  }

  /** a @ b, in the model's precision (fp32 out): the attention's two products. */
  private NDArray matMul(NDArray a, NDArray b) {
    return precision.lowCompute() ? FusedOps.matMulBf16(a, b) : a.matMul(b);
  }

  /**
   * Rotary embedding, HF's rotate_half convention: {@code x * cos + cat(-x2, x1) * sin}, computed
   * as {@code x * cos + cat(x2, x1) * sin'} with the sign of the first half folded into the table
   * ({@code sin' = cat(-sin, sin)}), which saves a pass forward and backward.
   *
   * @param x (B, T, n, hd)
   * @param rope cos, signed sin: (1, T, 1, hd)
   * @return (B, T, n, hd)
   */
  private static NDArray applyRope(NDArray x, NDArray[] rope) {
    NDList halves = x.split(2, 3); // 2 x (B, T, n, hd/2); positive axis (a negative one crashes)
    NDArray swapped = NDArrays.concat(new NDList(halves.get(1), halves.get(0)), 3); // (B,T,n,hd)
    return x.mul(rope[0]).add(swapped.mul(rope[1]));
  }

  /**
   * cos and sin of positions [offset, offset + t), from tables grown on demand (angles as HF in
   * fp32: inv_freq = theta^(-2i/hd), emb = cat(freqs, freqs)).
   *
   * @return cos, signed sin (see applyRope): (1, t, 1, hd)
   */
  private NDArray[] rope(int offset, long t) {
    long needed = offset + t;
    NDArray[] tables = ropeTables;
    if (tables == null || tables[0].getShape().get(0) < needed) {
      synchronized (this) {
        tables = ropeTables;
        if (tables == null || tables[0].getShape().get(0) < needed) {
          tables =
              buildRope(
                  (int)
                      Math.max(
                          needed,
                          Math.max(256, tables == null ? 0 : 2 * tables[0].getShape().get(0))));
          NDArray[] old = ropeTables;
          ropeTables = tables;
          // old tables may still be in use by another thread's forward: leave them to the model's
          // manager
          if (old != null) {
            NDScope.unregister(old);
          }
        }
      }
    }
    int hd = config.headDim();
    NDIndex rows = new NDIndex("{}:{}", offset, needed);
    return new NDArray[] {
      tables[0].get(rows).reshape(1, t, 1, hd), tables[1].get(rows).reshape(1, t, 1, hd)
    };
  }

  private NDArray[] buildRope(int positions) {
    int hd = config.headDim();
    float[] invFreq = new float[hd / 2];
    for (int i = 0; i < hd / 2; i++) {
      invFreq[i] = (float) (1.0 / Math.pow(config.ropeTheta(), (2.0 * i) / hd));
    }
    float[] cos = new float[positions * hd];
    float[] sin = new float[positions * hd];
    for (int p = 0; p < positions; p++) {
      for (int i = 0; i < hd / 2; i++) {
        float angle = (float) p * invFreq[i];
        float c = (float) Math.cos(angle);
        float s = (float) Math.sin(angle);
        cos[p * hd + i] = c;
        cos[p * hd + i + hd / 2] = c;
        sin[p * hd + i] = -s; // signed: rotate_half's minus on the first half, see applyRope
        sin[p * hd + i + hd / 2] = s;
      }
    }
    NDArray c = manager.create(cos, new Shape(positions, hd)); // (P, hd)
    NDArray s = manager.create(sin, new Shape(positions, hd)); // (P, hd)
    NDScope.unregister(c, s);
    return new NDArray[] {c, s};
  }

  /**
   * The additive causal mask of queries at positions [offset, offset + t) over keys [0, s): key j
   * is visible to query i iff {@code j <= i} and, with a window, {@code i - window < j}. Cached for
   * offset 0 (training).
   *
   * @param window 0 for global attention
   * @return (t, s): 0 where visible, -1e9 where hidden
   */
  NDArray causalMask(int offset, long t, long s, int window) {
    if (offset != 0) {
      return buildMask(manager, offset, t, s, window, false);
    }
    String key = t + "x" + s + "w" + window;
    synchronized (maskCache) {
      NDArray cached = maskCache.get(key);
      if (cached == null) {
        cached = buildMask(manager, 0, t, s, window, true);
        maskCache.put(key, cached);
      }
      return cached;
    }
  }

  private static NDArray buildMask(
      NDManager m, int offset, long t, long s, int window, boolean keep) {
    try (NDManager tmp = m.newSubManager()) {
      NDArray i =
          tmp.arange(offset, offset + (int) t).reshape(t, 1); // (t, 1) query positions, int32
      NDArray j = tmp.arange(0, (int) s).reshape(1, s); // (1, s) key positions
      NDArray visible = j.lte(i); // (t, s) causal
      if (window > 0) {
        visible = visible.logicalAnd(j.gt(i.sub(window))); // (t, s) i - window < j
      }
      NDArray visibleF = visible.toType(DataType.FLOAT32, false); // (t, s) 1 where visible
      NDArray mask = visibleF.sub(1f).mul(-MASKED); // (t, s) 0 where visible, -1e9 where hidden
      mask.attach(m); // survives tmp
      if (keep) {
        NDScope.unregister(mask); // cached: a caller's scope must not close it
      }
      return mask;
    }
  }

  /**
   * The padding and packing mask: a key is visible to a query iff the key is a real token of the
   * same document. Without packing (a 0/1 mask) this hides the padding keys only, as Hugging Face
   * does. Positions stay 0..T-1 across packed documents: RoPE makes attention depend on i - j only,
   * so a document sees the same scores wherever it sits in the row.
   *
   * @param attentionMask (B, S): 0 for padding, otherwise the document number within the row (1
   *     everywhere when nothing is packed); or null
   * @return (B, 1, 1, S, S) additive: 0 where visible, -1e9 elsewhere; or null
   */
  private NDArray documentMask(NDArray attentionMask) {
    if (attentionMask == null) {
      return null;
    }
    long b = attentionMask.getShape().get(0);
    long s = attentionMask.getShape().get(1);
    NDArray docs = attentionMask.toType(DataType.INT64, false); // (B, S)
    NDArray sameDoc = docs.reshape(b, s, 1).eq(docs.reshape(b, 1, s)); // (B, S, S) query x key
    NDArray realKey = docs.reshape(b, 1, s).gt(0); // (B, 1, S)
    NDArray visible = sameDoc.logicalAnd(realKey).toType(DataType.FLOAT32, false); // (B, S, S)
    return visible.sub(one).mul(maskMagnitude).reshape(b, 1, 1, s, s); // 0 or -1e9
  }

  private static NDArray withPad(NDArray causal, NDArray pad) {
    return pad == null ? causal : causal.add(pad); // (T, S) + (B, 1, 1, T, S) -> (B, 1, 1, T, S)
  }

  @Override
  public void close() {
    endBf16Step();
    if (lora != null) {
      lora.close();
    }
    synchronized (maskCache) {
      maskCache.clear();
    }
    manager.close();
  }
}
