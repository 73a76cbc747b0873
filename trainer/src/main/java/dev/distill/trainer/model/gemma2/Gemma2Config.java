package dev.distill.trainer.model.gemma2;

import dev.distill.spec.Catalog;
import dev.distill.spec.plan.ModelShape;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.json.JsonMapper;

/**
 * Every size of a Gemma 2 decoder, as in a Hugging Face {@code config.json} of a {@code
 * Gemma2ForCausalLM}. The Hugging Face keys are mapped in exactly one place: {@link #fromHf(Map)}
 * (reading) and {@link #toHf()} (writing). The compact constructor checks every value and names the
 * key in its message.
 *
 * @param vocabSize vocab_size: V
 * @param hiddenSize hidden_size: D
 * @param intermediateSize intermediate_size: the MLP width
 * @param numHiddenLayers num_hidden_layers
 * @param numAttentionHeads num_attention_heads: H query heads
 * @param numKeyValueHeads num_key_value_heads: KV heads (H must be a multiple)
 * @param headDim head_dim
 * @param maxPositionEmbeddings max_position_embeddings
 * @param rmsNormEps rms_norm_eps
 * @param ropeTheta rope_theta (also written as {@code rope_parameters.rope_theta}, where
 *     transformers 5 keeps it)
 * @param attnLogitSoftcapping attn_logit_softcapping, null for none
 * @param finalLogitSoftcapping final_logit_softcapping, null for none
 * @param queryPreAttnScalar query_pre_attn_scalar: queries are scaled by its inverse square root
 *     (an integer, as in Hugging Face's {@code Gemma2Config}, whose strict validation refuses 32.0)
 * @param slidingWindow sliding_window: even layers see keys j with i - window < j <= i
 * @param hiddenActivation hidden_activation (or the older hidden_act)
 * @param tieWordEmbeddings tie_word_embeddings (must be true: the head is the embedding)
 * @param bosTokenId bos_token_id, may be null
 * @param eosTokenIds eos_token_id (a number or a list in config.json), may be empty
 * @param padTokenId pad_token_id, may be null
 * @param torchDtype torch_dtype (transformers 5: dtype): the dtype the weights were stored in
 *     (float32, bfloat16, float16), may be null
 */
public record Gemma2Config(
    int vocabSize,
    int hiddenSize,
    int intermediateSize,
    int numHiddenLayers,
    int numAttentionHeads,
    int numKeyValueHeads,
    int headDim,
    int maxPositionEmbeddings,
    double rmsNormEps,
    double ropeTheta,
    Double attnLogitSoftcapping,
    Double finalLogitSoftcapping,
    int queryPreAttnScalar,
    int slidingWindow,
    String hiddenActivation,
    boolean tieWordEmbeddings,
    Integer bosTokenId,
    List<Integer> eosTokenIds,
    Integer padTokenId,
    String torchDtype) {

  /** The activations this model composes: all are the tanh approximation of GELU. */
  public static final Set<String> ACTIVATIONS =
      Set.of("gelu_pytorch_tanh", "gelu_new", "gelu_tanh");

  /** Storage dtypes a checkpoint may declare. */
  public static final Set<String> DTYPES = Set.of("float32", "bfloat16", "float16");

  /** The architecture name written to and expected in config.json. */
  public static final String ARCHITECTURE = "Gemma2ForCausalLM";

  /** The model_type written to and expected in config.json. */
  public static final String MODEL_TYPE = "gemma2";

  private static final JsonMapper JSON = JsonMapper.builder().build();

  /** Keys written from other keys; an override may still set them. */
  static final Set<String> DERIVED = Set.of("layer_types", "rope_parameters", "dtype");

  public Gemma2Config {
    positive("vocab_size", vocabSize);
    positive("hidden_size", hiddenSize);
    positive("intermediate_size", intermediateSize);
    positive("num_hidden_layers", numHiddenLayers);
    positive("num_attention_heads", numAttentionHeads);
    positive("num_key_value_heads", numKeyValueHeads);
    positive("head_dim", headDim);
    positive("max_position_embeddings", maxPositionEmbeddings);
    positive("sliding_window", slidingWindow);
    if (numAttentionHeads % numKeyValueHeads != 0) {
      throw new IllegalArgumentException(
          "num_attention_heads="
              + numAttentionHeads
              + " is not a multiple of num_key_value_heads="
              + numKeyValueHeads);
    }
    if (headDim % 2 != 0) {
      throw new IllegalArgumentException(
          "head_dim=" + headDim + " must be even for rotary embeddings");
    }
    positive("rms_norm_eps", rmsNormEps);
    positive("rope_theta", ropeTheta);
    positive("query_pre_attn_scalar", queryPreAttnScalar);
    if (attnLogitSoftcapping != null) {
      positive("attn_logit_softcapping", attnLogitSoftcapping);
    }
    if (finalLogitSoftcapping != null) {
      positive("final_logit_softcapping", finalLogitSoftcapping);
    }
    if (hiddenActivation == null || !ACTIVATIONS.contains(hiddenActivation)) {
      throw new IllegalArgumentException(
          "hidden_activation="
              + hiddenActivation
              + " is not supported; expected one of "
              + ACTIVATIONS);
    }
    if (!tieWordEmbeddings) {
      throw new IllegalArgumentException(
          "tie_word_embeddings=false is not supported: Gemma 2 ties the head to the embedding");
    }
    eosTokenIds = eosTokenIds == null ? List.of() : List.copyOf(eosTokenIds);
    for (Integer id : eosTokenIds) {
      if (id < 0) {
        throw new IllegalArgumentException("eos_token_id=" + id + " must be >= 0");
      }
    }
    if (bosTokenId != null && bosTokenId < 0) {
      throw new IllegalArgumentException("bos_token_id=" + bosTokenId + " must be >= 0");
    }
    if (padTokenId != null && padTokenId < 0) {
      throw new IllegalArgumentException("pad_token_id=" + padTokenId + " must be >= 0");
    }
    if (torchDtype != null && !DTYPES.contains(torchDtype)) {
      throw new IllegalArgumentException(
          "torch_dtype=" + torchDtype + " is not supported; expected one of " + DTYPES);
    }
  }

  private static void positive(String key, double value) {
    if (!(value > 0) || Double.isInfinite(value)) {
      throw new IllegalArgumentException(key + "=" + value + " must be positive");
    }
  }

  private static void positive(String key, int value) {
    if (value <= 0) {
      throw new IllegalArgumentException(key + "=" + value + " must be positive");
    }
  }

  /** Hugging Face's layer_types of Gemma 2: sliding_attention on even layers, full on odd ones. */
  private static List<String> layerTypes(int layers) {
    List<String> types = new ArrayList<>();
    for (int i = 0; i < layers; i++) {
      types.add(i % 2 == 0 ? "sliding_attention" : "full_attention");
    }
    return types;
  }

  /** Query heads per key/value head. */
  public int groupSize() {
    return numAttentionHeads / numKeyValueHeads;
  }

  /**
   * Whether a layer attends within the sliding window (even layers, as in Hugging Face's Gemma2).
   */
  public boolean isSliding(int layer) {
    return layer % 2 == 0;
  }

  /** The number of trainable parameters (the head is tied, so it is not counted twice). */
  public long parameterCount() {
    return shape().parameterCount();
  }

  /** The sizes the memory plan computes from ({@code dev.distill.spec.plan}). */
  public ModelShape shape() {
    return new ModelShape(
        vocabSize,
        hiddenSize,
        intermediateSize,
        numHiddenLayers,
        numAttentionHeads,
        numKeyValueHeads,
        headDim,
        attnLogitSoftcapping != null);
  }

  /**
   * Bytes the parameters take in a dtype, for planning memory.
   *
   * @param dtype float32, bfloat16 or float16
   */
  public long parameterBytes(String dtype) {
    return switch (dtype) {
      case "float32" -> 4 * parameterCount();
      case "bfloat16", "float16" -> 2 * parameterCount();
      default -> throw new IllegalArgumentException("dtype=" + dtype + " is not one of " + DTYPES);
    };
  }

  // ----------------------------------------------------------------------------------------
  // Hugging Face config.json: the only place where its keys are named.

  /**
   * Builds a config from the parsed JSON of a Hugging Face config.json. Unknown keys are ignored
   * (Hugging Face configs carry many); a known key with a bad value is an error naming the key.
   */
  public static Gemma2Config fromHf(Map<String, ?> json) {
    Object arch = json.get("architectures");
    if (arch != null && !(arch instanceof List<?> l && l.contains(ARCHITECTURE))) {
      throw new IllegalArgumentException(
          "architectures=" + arch + " does not contain " + ARCHITECTURE);
    }
    Object modelType = json.get("model_type");
    if (modelType != null && !MODEL_TYPE.equals(modelType)) {
      throw new IllegalArgumentException("model_type=" + modelType + " is not " + MODEL_TYPE);
    }
    if (booleanValue(json, "attention_bias", false)) {
      throw new IllegalArgumentException(
          "attention_bias=true is not supported: Gemma 2 projections have no bias");
    }
    int layers = intValue(json, "num_hidden_layers", null);
    if (json.get("layer_types") != null && !json.get("layer_types").equals(layerTypes(layers))) {
      throw new IllegalArgumentException(
          "layer_types="
              + json.get("layer_types")
              + " is not supported: Gemma 2 alternates sliding_attention (even layers) and"
              + " full_attention (odd layers)");
    }
    int hidden = intValue(json, "hidden_size", null);
    int heads = intValue(json, "num_attention_heads", 8);
    int headDim = intValue(json, "head_dim", 256);
    String activation =
        json.containsKey("hidden_activation") && json.get("hidden_activation") != null
            ? stringValue(json, "hidden_activation", null)
            : stringValue(json, "hidden_act", "gelu_pytorch_tanh");
    return new Gemma2Config(
        intValue(json, "vocab_size", 256000),
        hidden,
        intValue(json, "intermediate_size", null),
        layers,
        heads,
        intValue(json, "num_key_value_heads", 4),
        headDim,
        intValue(json, "max_position_embeddings", 8192),
        doubleValue(json, "rms_norm_eps", 1e-6),
        ropeTheta(json),
        nullableDouble(json, "attn_logit_softcapping", 50.0),
        nullableDouble(json, "final_logit_softcapping", 30.0),
        intValue(json, "query_pre_attn_scalar", 256),
        intValue(json, "sliding_window", 4096),
        activation,
        booleanValue(json, "tie_word_embeddings", true),
        nullableInt(json, "bos_token_id", 2),
        intList(json, "eos_token_id", List.of(1)),
        nullableInt(json, "pad_token_id", 0),
        json.get("torch_dtype") != null
            ? stringValue(json, "torch_dtype", null)
            : json.get("dtype") != null ? stringValue(json, "dtype", null) : null);
  }

  /**
   * rope_theta: transformers 5 writes it inside {@code rope_parameters} (with {@code rope_type}),
   * older versions at the top level. Only the default (unscaled) rotary embedding is supported.
   */
  private static double ropeTheta(Map<String, ?> json) {
    Object params = json.get("rope_parameters");
    if (params == null) {
      return doubleValue(json, "rope_theta", 10000.0);
    }
    if (!(params instanceof Map<?, ?> p)) {
      throw new IllegalArgumentException("rope_parameters=" + params + " is not an object");
    }
    Object type = p.get("rope_type");
    if (type != null && !type.equals("default")) {
      throw new IllegalArgumentException(
          "rope_parameters.rope_type=" + type + " is not supported; expected default");
    }
    Object theta = p.get("rope_theta");
    if (theta == null) {
      return doubleValue(json, "rope_theta", 10000.0);
    }
    if (!(theta instanceof Number n)) {
      throw new IllegalArgumentException(
          "rope_parameters.rope_theta=" + theta + " is not a number");
    }
    return n.doubleValue();
  }

  /**
   * The config.json content of this config (a valid Gemma2ForCausalLM config), in a stable key
   * order. Every value has the JSON type of its field in transformers' {@code Gemma2Config} (a
   * strict dataclass in transformers 5: an {@code int} field refuses {@code 32.0}, a {@code float}
   * field refuses {@code 50}): integers are written from Java ints, floats from doubles, absent
   * soft-caps and token ids as null.
   */
  public Map<String, Object> toHf() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("architectures", List.of(ARCHITECTURE));
    m.put("model_type", MODEL_TYPE);
    m.put("vocab_size", vocabSize);
    m.put("hidden_size", hiddenSize);
    m.put("intermediate_size", intermediateSize);
    m.put("num_hidden_layers", numHiddenLayers);
    m.put("num_attention_heads", numAttentionHeads);
    m.put("num_key_value_heads", numKeyValueHeads);
    m.put("head_dim", headDim);
    m.put("max_position_embeddings", maxPositionEmbeddings);
    m.put("rms_norm_eps", rmsNormEps);
    m.put("rope_theta", ropeTheta);
    Map<String, Object> rope = new LinkedHashMap<>();
    rope.put("rope_type", "default");
    rope.put("rope_theta", ropeTheta);
    m.put("rope_parameters", rope);
    m.put("attn_logit_softcapping", attnLogitSoftcapping);
    m.put("final_logit_softcapping", finalLogitSoftcapping);
    m.put("query_pre_attn_scalar", queryPreAttnScalar);
    m.put("sliding_window", slidingWindow);
    m.put("layer_types", layerTypes(numHiddenLayers));
    m.put("hidden_activation", hiddenActivation);
    m.put("hidden_act", hiddenActivation);
    m.put("tie_word_embeddings", tieWordEmbeddings);
    m.put("bos_token_id", bosTokenId);
    m.put(
        "eos_token_id",
        eosTokenIds.isEmpty() ? null : eosTokenIds.size() == 1 ? eosTokenIds.get(0) : eosTokenIds);
    m.put("pad_token_id", padTokenId);
    m.put("attention_bias", false);
    m.put("attention_dropout", 0.0);
    m.put("torch_dtype", torchDtype == null ? "float32" : torchDtype);
    m.put("dtype", torchDtype == null ? "float32" : torchDtype);
    return m;
  }

  /**
   * This config with some Hugging Face keys replaced (as a job spec's model config does). An
   * override key that this record does not know is an error (a typo must not be ignored silently).
   */
  public Gemma2Config withOverrides(Map<String, ?> overrides) {
    Map<String, Object> m = toHf();
    if (!overrides.containsKey("layer_types")) {
      m.remove("layer_types"); // derived from num_hidden_layers, which may be overridden
    }
    // derived from rope_theta and torch_dtype, which may be overridden
    m.remove("rope_parameters");
    m.remove("dtype");
    for (var e : overrides.entrySet()) {
      if (DERIVED.contains(e.getKey())) {
        m.put(e.getKey(), e.getValue());
        continue;
      }
      if (!m.containsKey(e.getKey())) {
        throw new IllegalArgumentException(
            "unknown Gemma 2 config key '" + e.getKey() + "' (known: " + m.keySet() + ")");
      }
      m.put(e.getKey(), e.getValue());
    }
    if (overrides.containsKey("hidden_act") && !overrides.containsKey("hidden_activation")) {
      m.put("hidden_activation", overrides.get("hidden_act"));
    }
    if (overrides.containsKey("dtype") && !overrides.containsKey("torch_dtype")) {
      m.put("torch_dtype", overrides.get("dtype"));
    }
    return fromHf(m);
  }

  /** Reads a config.json; errors name the file. */
  public static Gemma2Config read(Path configJson) {
    Map<String, Object> json;
    try {
      json = JSON.readValue(Files.readAllBytes(configJson), Map.class);
    } catch (IOException e) {
      throw new UncheckedIOException(configJson + ": cannot read: " + e.getMessage(), e);
    } catch (JacksonException e) {
      throw new IllegalArgumentException(
          configJson + ": not valid JSON: " + e.getOriginalMessage(), e);
    }
    try {
      return fromHf(json);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(configJson + ": " + e.getMessage(), e);
    }
  }

  /** Writes this config as config.json (pretty-printed, stable key order). */
  public void write(Path configJson) {
    try {
      Files.writeString(
          configJson, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toHf()) + "\n");
    } catch (IOException e) {
      throw new UncheckedIOException(configJson + ": cannot write: " + e.getMessage(), e);
    }
  }

  // ----------------------------------------------------------------------------------------
  // Presets.

  /**
   * Names accepted by {@link #preset(String)}: the spec's {@link Catalog#MODEL_PRESETS}, the one
   * list of them ({@code Gemma2ConfigTest} builds every one).
   */
  public static final List<String> PRESETS = Catalog.MODEL_PRESETS;

  /**
   * The default vocabulary of the small presets: the built-in byte-level tokenizer's (16 specials,
   * then 256 bytes; {@code <pad>} 0, {@code <bos>} 1, {@code <eos>} 2). Override it for another
   * tokenizer.
   */
  public static final int SMALL_VOCAB = ModelShape.BYTE_VOCAB;

  /** bos_token_id of the small presets (the byte tokenizer's {@code <bos>}). */
  public static final int SMALL_BOS = 1;

  /** eos_token_id of the small presets (the byte tokenizer's {@code <eos>}). */
  public static final int SMALL_EOS = 2;

  /**
   * A named preset: the real Gemma 2 sizes (for planning memory) or small CPU models. Override the
   * small presets' vocabulary with {@code withOverrides(Map.of("vocab_size", n))}.
   */
  public static Gemma2Config preset(String name) {
    // the sizes (vocab, D, I, layers, heads, KV heads, head_dim) are the spec's ModelShape presets,
    // the one list of them that the memory plan also reads; the rest is set here
    return switch (name) {
      case "gemma2-2b" -> released(name).queryPreAttnScalar(256).build();
      case "gemma2-9b" -> released(name).queryPreAttnScalar(256).build();
      case "gemma2-27b" -> released(name).queryPreAttnScalar(144).build();
      case "gemma2-tiny" -> small(name).queryPreAttnScalar(16).slidingWindow(32).build();
      case "gemma2-demo-teacher" -> small(name).queryPreAttnScalar(32).slidingWindow(64).build();
      case "gemma2-demo-student" -> small(name).queryPreAttnScalar(32).slidingWindow(64).build();
      default ->
          throw new IllegalArgumentException(
              "unknown model preset '" + name + "'; known: " + PRESETS);
    };
  }

  /** Gemma 2 as Google released it: the 256k vocabulary, an 8k context, bf16 weights. */
  private static PresetBuilder released(String name) {
    return new PresetBuilder()
        .shape(ModelShape.preset(name))
        .maxPositionEmbeddings(8192)
        .slidingWindow(4096)
        .bosTokenId(2)
        .eosTokenId(1)
        .torchDtype("bfloat16");
  }

  /** Small CPU models on the byte tokenizer's vocabulary, a 2k context, fp32 weights. */
  private static PresetBuilder small(String name) {
    return new PresetBuilder()
        .shape(ModelShape.preset(name))
        .maxPositionEmbeddings(2048)
        .bosTokenId(SMALL_BOS)
        .eosTokenId(SMALL_EOS)
        .torchDtype("float32");
  }

  /**
   * The sizes of a preset by name. What every preset shares is set here: rms_norm_eps 1e-6,
   * rope_theta 10000, soft-caps 50 (attention) and 30 (final logits), gelu_pytorch_tanh, tied
   * embeddings, pad id 0.
   */
  private static final class PresetBuilder {
    private int vocabSize;
    private int hiddenSize;
    private int intermediateSize;
    private int numHiddenLayers;
    private int numAttentionHeads;
    private int numKeyValueHeads;
    private int headDim;
    private int maxPositionEmbeddings;
    private int queryPreAttnScalar;
    private int slidingWindow;
    private int bosTokenId;
    private int eosTokenId;
    private String torchDtype;

    PresetBuilder shape(ModelShape s) {
      vocabSize = s.vocabSize();
      hiddenSize = s.hiddenSize();
      intermediateSize = s.intermediateSize();
      numHiddenLayers = s.layers();
      numAttentionHeads = s.heads();
      numKeyValueHeads = s.kvHeads();
      headDim = s.headDim();
      return this;
    }

    PresetBuilder maxPositionEmbeddings(int positions) {
      maxPositionEmbeddings = positions;
      return this;
    }

    PresetBuilder queryPreAttnScalar(int scalar) {
      queryPreAttnScalar = scalar;
      return this;
    }

    PresetBuilder slidingWindow(int window) {
      slidingWindow = window;
      return this;
    }

    PresetBuilder bosTokenId(int id) {
      bosTokenId = id;
      return this;
    }

    PresetBuilder eosTokenId(int id) {
      eosTokenId = id;
      return this;
    }

    PresetBuilder torchDtype(String dtype) {
      torchDtype = dtype;
      return this;
    }

    Gemma2Config build() {
      return new Gemma2Config(
          vocabSize,
          hiddenSize,
          intermediateSize,
          numHiddenLayers,
          numAttentionHeads,
          numKeyValueHeads,
          headDim,
          maxPositionEmbeddings,
          1e-6,
          10000.0,
          50.0,
          30.0,
          queryPreAttnScalar,
          slidingWindow,
          "gelu_pytorch_tanh",
          true,
          bosTokenId,
          List.of(eosTokenId),
          0,
          torchDtype);
    }
  }

  // ----------------------------------------------------------------------------------------
  // JSON value helpers: each names the key when the value has the wrong type.

  private static Object required(Map<String, ?> json, String key, Object dflt) {
    Object v = json.get(key);
    if (v == null) {
      if (dflt == null) {
        throw new IllegalArgumentException(key + " is missing");
      }
      return dflt;
    }
    return v;
  }

  private static int intValue(Map<String, ?> json, String key, Integer dflt) {
    Object v = required(json, key, dflt);
    if (v instanceof Number n
        && n.doubleValue() == Math.rint(n.doubleValue())
        && Math.abs(n.doubleValue()) <= Integer.MAX_VALUE) {
      return n.intValue();
    }
    throw new IllegalArgumentException(key + "=" + v + " is not an integer");
  }

  private static Integer nullableInt(Map<String, ?> json, String key, Integer dflt) {
    if (json.containsKey(key) && json.get(key) == null) {
      return null;
    }
    return intValue(json, key, dflt);
  }

  private static double doubleValue(Map<String, ?> json, String key, Double dflt) {
    Object v = required(json, key, dflt);
    if (v instanceof Number n) {
      return n.doubleValue();
    }
    throw new IllegalArgumentException(key + "=" + v + " is not a number");
  }

  private static Double nullableDouble(Map<String, ?> json, String key, Double dflt) {
    if (json.containsKey(key) && json.get(key) == null) {
      return null;
    }
    return doubleValue(json, key, dflt);
  }

  private static String stringValue(Map<String, ?> json, String key, String dflt) {
    Object v = required(json, key, dflt);
    if (v instanceof String s) {
      return s;
    }
    throw new IllegalArgumentException(key + "=" + v + " is not a string");
  }

  private static boolean booleanValue(Map<String, ?> json, String key, boolean dflt) {
    Object v = required(json, key, dflt);
    if (v instanceof Boolean b) {
      return b;
    }
    throw new IllegalArgumentException(key + "=" + v + " is not true or false");
  }

  private static List<Integer> intList(Map<String, ?> json, String key, List<Integer> dflt) {
    if (json.containsKey(key) && json.get(key) == null) {
      return List.of();
    }
    Object v = json.containsKey(key) ? json.get(key) : dflt;
    if (v instanceof Number) {
      return List.of(intValue(json, key, null));
    }
    if (v instanceof List<?> list) {
      List<Integer> out = new ArrayList<>();
      for (Object o : list) {
        if (!(o instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())) {
          throw new IllegalArgumentException(
              key + "=" + v + " is not an integer or a list of integers");
        }
        out.add(n.intValue());
      }
      return out;
    }
    throw new IllegalArgumentException(key + "=" + v + " is not an integer or a list of integers");
  }
}
