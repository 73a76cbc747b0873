package dev.distill.spec.plan;

import dev.distill.spec.Catalog;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The sizes of a Gemma 2 decoder that decide its memory: what the plan computes from. The trainer's
 * {@code Gemma2Config} presets take their sizes from {@link #preset} (one source), and {@code
 * Gemma2Config.shape()} gives the shape of any config.
 *
 * @param vocabSize V (vocab_size)
 * @param hiddenSize D (hidden_size)
 * @param intermediateSize I, the MLP width (intermediate_size)
 * @param layers num_hidden_layers
 * @param heads H query heads (num_attention_heads)
 * @param kvHeads KV key/value heads (num_key_value_heads)
 * @param headDim hd (head_dim)
 * @param attnSoftcap whether attn_logit_softcapping is set (the composed attention then keeps one
 *     more (B, H, T, T) array per layer)
 */
public record ModelShape(
    int vocabSize,
    int hiddenSize,
    int intermediateSize,
    int layers,
    int heads,
    int kvHeads,
    int headDim,
    boolean attnSoftcap) {

  /**
   * The vocabulary of the built-in byte tokenizer (16 specials, 256 bytes): a {@code builtin:}
   * model trained with it has this vocab_size unless its config sets one.
   */
  public static final int BYTE_VOCAB = 272;

  private static final Map<String, ModelShape> PRESETS = presets();

  public ModelShape {
    positive("vocab_size", vocabSize);
    positive("hidden_size", hiddenSize);
    positive("intermediate_size", intermediateSize);
    positive("num_hidden_layers", layers);
    positive("num_attention_heads", heads);
    positive("num_key_value_heads", kvHeads);
    positive("head_dim", headDim);
  }

  private static void positive(String key, int value) {
    if (value <= 0) {
      throw new IllegalArgumentException(key + "=" + value + " must be positive");
    }
  }

  private static Map<String, ModelShape> presets() {
    Map<String, ModelShape> m = new LinkedHashMap<>();
    // Gemma 2 as Google released it (Hugging Face google/gemma-2-*): vocabulary 256,000
    m.put("gemma2-2b", new ModelShape(256000, 2304, 9216, 26, 8, 4, 256, true));
    m.put("gemma2-9b", new ModelShape(256000, 3584, 14336, 42, 16, 8, 256, true));
    m.put("gemma2-27b", new ModelShape(256000, 4608, 36864, 46, 32, 16, 128, true));
    // small CPU models on the byte tokenizer's vocabulary
    m.put("gemma2-tiny", new ModelShape(BYTE_VOCAB, 64, 256, 2, 4, 2, 16, true));
    m.put("gemma2-demo-teacher", new ModelShape(BYTE_VOCAB, 128, 512, 4, 4, 2, 32, true));
    m.put("gemma2-demo-student", new ModelShape(BYTE_VOCAB, 96, 384, 3, 3, 1, 32, true));
    if (!m.keySet().equals(new java.util.LinkedHashSet<>(Catalog.MODEL_PRESETS))) {
      throw new IllegalStateException(
          "shape presets " + m.keySet() + " differ from Catalog.MODEL_PRESETS");
    }
    return m;
  }

  /**
   * The shape of a named preset ({@link Catalog#MODEL_PRESETS}).
   *
   * @throws IllegalArgumentException for an unknown name
   */
  public static ModelShape preset(String name) {
    ModelShape s = PRESETS.get(name);
    if (s == null) {
      throw new IllegalArgumentException(
          "unknown model preset '" + name + "'; known: " + Catalog.MODEL_PRESETS);
    }
    return s;
  }

  /**
   * This shape with Hugging Face config keys replaced, as a {@code builtin:} model's {@code config}
   * overrides do; keys that do not change a size are ignored.
   *
   * @throws IllegalArgumentException when a size key does not hold a positive integer
   */
  public ModelShape withOverrides(Map<String, ?> config) {
    return new ModelShape(
        intOr(config, "vocab_size", vocabSize),
        intOr(config, "hidden_size", hiddenSize),
        intOr(config, "intermediate_size", intermediateSize),
        intOr(config, "num_hidden_layers", layers),
        intOr(config, "num_attention_heads", heads),
        intOr(config, "num_key_value_heads", kvHeads),
        intOr(config, "head_dim", headDim),
        config.containsKey("attn_logit_softcapping")
            ? config.get("attn_logit_softcapping") != null
            : attnSoftcap);
  }

  private static int intOr(Map<String, ?> config, String key, int dflt) {
    if (!config.containsKey(key)) {
      return dflt;
    }
    if (config.get(key) instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())) {
      return n.intValue();
    }
    throw new IllegalArgumentException(key + "=" + config.get(key) + " is not an integer");
  }

  /** Query heads per key/value head. */
  public int groupSize() {
    return heads / kvHeads;
  }

  /**
   * Parameters (the head is tied to the embedding, so it is counted once): the embedding V x D; per
   * layer q (D, H hd), k and v (D, KV hd) each, o (H hd, D), gate, up, down (D x I each) and four
   * norms of D; the final norm D.
   */
  public long parameterCount() {
    long d = hiddenSize;
    long q = d * heads * headDim;
    long kv = 2 * d * kvHeads * headDim;
    long o = (long) heads * headDim * d;
    long mlp = 3 * d * intermediateSize;
    long norms = 4 * d;
    return (long) vocabSize * d + layers * (q + kv + o + mlp + norms) + d;
  }

  /**
   * Values of LoRA adapters on this shape: {@code rank x (in + out)} per targeted projection and
   * layer, with q (D, H hd), k and v (D, KV hd), o (H hd, D), gate and up (D, I), down (I, D) as
   * (in, out); the trainer's {@code Gemma2Lora.parameterCount} is the same sum.
   */
  public long loraParameterCount(dev.distill.spec.LoraSpec lora) {
    long perLayer = 0;
    for (String module : lora.targetModules()) {
      perLayer += (long) lora.rank() * (projectionIn(module) + projectionOut(module));
    }
    return perLayer * layers;
  }

  /**
   * The input width of a projection, by Hugging Face name ({@link
   * dev.distill.spec.Catalog#LORA_TARGET_MODULES}).
   */
  public long projectionIn(String module) {
    return switch (module) {
      case "q_proj", "k_proj", "v_proj", "gate_proj", "up_proj" -> hiddenSize;
      case "o_proj" -> (long) heads * headDim;
      case "down_proj" -> intermediateSize;
      default -> throw new IllegalArgumentException("unknown projection '" + module + "'");
    };
  }

  /** The output width of a projection, by Hugging Face name. */
  public long projectionOut(String module) {
    return switch (module) {
      case "q_proj" -> (long) heads * headDim;
      case "k_proj", "v_proj" -> (long) kvHeads * headDim;
      case "o_proj", "down_proj" -> hiddenSize;
      case "gate_proj", "up_proj" -> intermediateSize;
      default -> throw new IllegalArgumentException("unknown projection '" + module + "'");
    };
  }

  /**
   * Values of the RMSNorm weights: four of D per layer and the final one. A frozen model holds them
   * in fp32 whatever its precision (they are a few vectors: 0.007% of gemma2-9b).
   */
  public long normParameterCount() {
    return (4L * layers + 1) * hiddenSize;
  }

  /** Parameters of one decoder layer. */
  public long layerParameterCount() {
    return (parameterCount() - (long) vocabSize * hiddenSize - hiddenSize) / layers;
  }
}
