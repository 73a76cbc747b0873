package dev.distill.trainer.model.gemma2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.distill.spec.Catalog;
import dev.distill.spec.LoraSpec;
import dev.distill.trainer.model.gemma2.Gemma2WeightNames.Layer;
import dev.distill.trainer.safetensors.SafetensorsDtype;
import dev.distill.trainer.safetensors.SafetensorsFile;
import dev.distill.trainer.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.json.JsonMapper;

/**
 * LoRA adapters of a {@link Gemma2Model} (Hu et al. 2021), laid out as Hugging Face PEFT's {@code
 * LoraModel}: a targeted projection {@code y = W x} becomes
 *
 * <pre>
 *   y = W x + (alpha / r) * B (A (dropout(x)))      A: (r, in), B: (out, r)
 * </pre>
 *
 * <p>A starts as PEFT's {@code kaiming_uniform_(a=sqrt(5))}, that is uniform in {@code +-1 /
 * sqrt(in)}; B starts at zero, so a fresh adapter leaves the model unchanged. Dropout is on only
 * while {@link #training} is set (PEFT's {@code nn.Dropout} in train mode) and draws from the
 * engine's generator. Saved as PEFT's {@code save_pretrained} writes: {@code adapter_config.json}
 * and {@code adapter_model.safetensors} with the names of {@link Layer#lora}.
 */
public final class Gemma2Lora implements AutoCloseable {

  public static final String CONFIG_FILE = "adapter_config.json";
  public static final String WEIGHTS_FILE = "adapter_model.safetensors";

  private static final JsonMapper JSON = JsonMapper.builder().build();

  private final LoraSpec spec;
  private final String baseModel; // base_model_name_or_path: where the frozen base lives
  private final NDManager manager; // owns the adapters and constants
  private final Map<String, NDArray> params; // PEFT name -> A or B, layer by layer
  private final NDArray[][] down; // [layer][Layer.ordinal()] A (r, in), null where not adapted
  private final NDArray[][] up; // [layer][Layer.ordinal()] B (out, r), null where not adapted
  private final NDArray scale; // () alpha / r
  private final NDArray keepScale; // () 1 / (1 - dropout)
  private boolean training;

  private Gemma2Lora(
      LoraSpec spec,
      String baseModel,
      Gemma2Config config,
      NDManager manager,
      Map<String, NDArray> params) {
    this.spec = spec;
    this.baseModel = baseModel;
    this.manager = manager;
    this.params = Collections.unmodifiableMap(params);
    this.down = new NDArray[config.numHiddenLayers()][Layer.values().length];
    this.up = new NDArray[config.numHiddenLayers()][Layer.values().length];
    for (int i = 0; i < config.numHiddenLayers(); i++) {
      for (Layer t : targets(spec)) {
        down[i][t.ordinal()] = params.get(t.lora(i, false));
        up[i][t.ordinal()] = params.get(t.lora(i, true));
      }
    }
    this.scale = constant((float) spec.scale());
    this.keepScale = constant((float) (1.0 / (1.0 - spec.dropout())));
    requireGradients(true);
  }

  private NDArray constant(float v) {
    NDArray c = manager.full(new Shape(), v); // () fp32, made natively (see djl-notes, bite 2)
    NDScope.unregister(c);
    return c;
  }

  private static List<Layer> targets(LoraSpec spec) {
    List<Layer> out = new ArrayList<>();
    for (String m : spec.targetModules()) {
      out.add(Layer.ofModule(m));
    }
    return out;
  }

  /** Every adapter tensor's name and shape under a config, A then B, layer by layer. */
  static Map<String, Shape> shapes(Gemma2Config config, LoraSpec spec) {
    Map<String, Shape> m = new LinkedHashMap<>();
    for (int i = 0; i < config.numHiddenLayers(); i++) {
      for (Layer t : targets(spec)) {
        Shape w = t.shape(config); // (out, in)
        m.put(t.lora(i, false), new Shape(spec.rank(), w.get(1))); // A (r, in)
        m.put(t.lora(i, true), new Shape(w.get(0), spec.rank())); // B (out, r)
      }
    }
    return m;
  }

  /** Trainable values of adapters under a config: r * (in + out) per adapted projection. */
  public static long parameterCount(Gemma2Config config, LoraSpec spec) {
    return shapes(config, spec).values().stream().mapToLong(Shape::size).sum();
  }

  // ----------------------------------------------------------------------------------------
  // Factories.

  /**
   * Fresh adapters, deterministic in the seed: A uniform in {@code +-1 / sqrt(in)} (PEFT's
   * kaiming-uniform with a = sqrt(5)), B zero. Drawn in Java, so they do not depend on the device.
   *
   * @param baseModel the base model's directory (written as {@code base_model_name_or_path})
   */
  public static Gemma2Lora init(
      Gemma2Config config, LoraSpec spec, String baseModel, NDManager parent, long seed) {
    NDManager m = parent.newSubManager();
    Map<String, NDArray> params = new LinkedHashMap<>();
    for (var e : shapes(config, spec).entrySet()) {
      Shape shape = e.getValue();
      float[] data = new float[Math.toIntExact(shape.size())];
      if (e.getKey().endsWith(".lora_A.weight")) {
        double bound = 1.0 / Math.sqrt(shape.get(1)); // gain sqrt(2 / (1 + 5)) * sqrt(3 / in)
        SplittableRandom rnd =
            new SplittableRandom(seed * 0x9E3779B97F4A7C15L + e.getKey().hashCode());
        for (int i = 0; i < data.length; i++) {
          data[i] = (float) ((2 * rnd.nextDouble() - 1) * bound);
        }
      }
      params.put(e.getKey(), place(m, data, shape));
    }
    return new Gemma2Lora(spec, baseModel, config, m, params);
  }

  private static NDArray place(NDManager m, float[] data, Shape shape) {
    NDArray p;
    try (NDArray wrapped = m.create(data, shape)) { // CPU: wraps JVM direct memory
      p = wrapped.duplicate(); // (shape) in libtorch's memory
    }
    NDScope.unregister(p);
    return p;
  }

  /**
   * The {@code base_model_name_or_path} of an adapter directory, resolved against the directory
   * when relative.
   */
  public static Path baseOf(Path adapterDir) {
    Map<String, Object> json = readConfig(adapterDir);
    Object base = json.get("base_model_name_or_path");
    if (!(base instanceof String s) || s.isBlank()) {
      throw new IllegalArgumentException(
          adapterDir.resolve(CONFIG_FILE) + ": base_model_name_or_path is not set");
    }
    return adapterDir.resolve(s);
  }

  /**
   * Reads adapters written by {@link #save} or by PEFT's {@code save_pretrained} for a model of
   * this config. Refuses what this class does not compute (DoRA, rsLoRA, per-module ranks, biases)
   * naming the file and the key.
   */
  public static Gemma2Lora load(Path adapterDir, Gemma2Config config, NDManager parent) {
    Path configFile = adapterDir.resolve(CONFIG_FILE);
    Map<String, Object> json = readConfig(adapterDir);
    LoraSpec spec = specOf(configFile, json);
    Object base = json.get("base_model_name_or_path");
    NDManager m = parent.newSubManager();
    try (SafetensorsFile f = SafetensorsFile.open(adapterDir.resolve(WEIGHTS_FILE))) {
      Map<String, NDArray> params = new LinkedHashMap<>();
      for (var e : shapes(config, spec).entrySet()) {
        if (!f.tensors().containsKey(e.getKey())) {
          throw new IllegalArgumentException(f.path() + ": no tensor '" + e.getKey() + "'");
        }
        NDArray p = f.read(e.getKey(), e.getValue(), m);
        NDScope.unregister(p);
        params.put(e.getKey(), p);
      }
      return new Gemma2Lora(spec, base instanceof String s ? s : null, config, m, params);
    } catch (RuntimeException e) {
      m.close();
      throw e;
    }
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> readConfig(Path adapterDir) {
    Path file = adapterDir.resolve(CONFIG_FILE);
    try {
      return JSON.readValue(Files.readAllBytes(file), Map.class);
    } catch (IOException e) {
      throw new UncheckedIOException(file + ": cannot read: " + e.getMessage(), e);
    } catch (JacksonException e) {
      throw new IllegalArgumentException(file + ": not valid JSON: " + e.getOriginalMessage(), e);
    }
  }

  /** The settings of a PEFT config, refusing the variants this class does not compute. */
  private static LoraSpec specOf(Path file, Map<String, Object> json) {
    requireValue(file, json, "peft_type", "LORA");
    requireAbsentOrValue(file, json, "use_dora", false);
    requireAbsentOrValue(file, json, "use_rslora", false);
    requireAbsentOrValue(file, json, "fan_in_fan_out", false);
    requireAbsentOrValue(file, json, "bias", "none");
    for (String key : List.of("rank_pattern", "alpha_pattern")) {
      if (json.get(key) instanceof Map<?, ?> map && !map.isEmpty()) {
        throw new IllegalArgumentException(file + ": " + key + " is not supported, was " + map);
      }
    }
    for (String key : List.of("layers_to_transform", "modules_to_save", "exclude_modules")) {
      if (json.get(key) != null) {
        throw new IllegalArgumentException(
            file + ": " + key + " is not supported, was " + json.get(key));
      }
    }
    if (!(json.get("r") instanceof Number r)) {
      throw new IllegalArgumentException(file + ": r must be a number, was " + json.get("r"));
    }
    if (!(json.get("lora_alpha") instanceof Number alpha)) {
      throw new IllegalArgumentException(
          file + ": lora_alpha must be a number, was " + json.get("lora_alpha"));
    }
    Object dropout = json.getOrDefault("lora_dropout", 0.0);
    if (!(dropout instanceof Number p)) {
      throw new IllegalArgumentException(file + ": lora_dropout must be a number, was " + dropout);
    }
    if (!(json.get("target_modules") instanceof List<?> modules)) {
      throw new IllegalArgumentException(
          file + ": target_modules must be a list of names, was " + json.get("target_modules"));
    }
    List<String> names = new ArrayList<>();
    for (Object o : modules) {
      if (!(o instanceof String s) || !Catalog.LORA_TARGET_MODULES.contains(s)) {
        throw new IllegalArgumentException(
            file + ": target_modules: '" + o + "' is none of " + Catalog.LORA_TARGET_MODULES);
      }
      names.add(s);
    }
    // PEFT writes a set (any order): keep the model's order, so tensors are listed layer by layer
    List<String> ordered = Catalog.LORA_TARGET_MODULES.stream().filter(names::contains).toList();
    return new LoraSpec(r.intValue(), alpha.doubleValue(), p.doubleValue(), ordered);
  }

  private static void requireValue(Path file, Map<String, Object> json, String key, Object want) {
    if (!want.equals(json.get(key))) {
      throw new IllegalArgumentException(
          file + ": " + key + " must be " + want + ", was " + json.get(key));
    }
  }

  private static void requireAbsentOrValue(
      Path file, Map<String, Object> json, String key, Object want) {
    if (json.get(key) != null) {
      requireValue(file, json, key, want);
    }
  }

  /**
   * Writes {@code adapter_config.json} and fp32 {@code adapter_model.safetensors} as PEFT 0.21.0's
   * {@code save_pretrained} does for a causal LM.
   */
  public void save(Path dir) {
    Map<String, Object> config = new LinkedHashMap<>();
    config.put("peft_type", "LORA");
    config.put("task_type", "CAUSAL_LM");
    config.put("base_model_name_or_path", baseModel);
    config.put("r", spec.rank());
    double alpha = spec.alpha();
    config.put("lora_alpha", alpha == Math.rint(alpha) ? (Object) (long) alpha : alpha);
    config.put("lora_dropout", spec.dropout());
    config.put("target_modules", spec.targetModules());
    config.put("bias", "none");
    config.put("fan_in_fan_out", false);
    config.put("use_rslora", false);
    config.put("use_dora", false);
    config.put("init_lora_weights", true);
    config.put("inference_mode", true);
    config.put("modules_to_save", null);
    try {
      Files.createDirectories(dir);
      Files.writeString(
          dir.resolve(CONFIG_FILE),
          JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config) + "\n");
    } catch (IOException e) {
      throw new UncheckedIOException(dir + ": cannot write " + CONFIG_FILE + ": " + e, e);
    }
    SafetensorsWriter.write(
        dir.resolve(WEIGHTS_FILE), params, SafetensorsDtype.F32, Map.of("format", "pt"));
  }

  // ----------------------------------------------------------------------------------------
  // Forward.

  /**
   * Adds the adapter of one projection to the base projection's output; the output as it is where
   * the projection has no adapter.
   *
   * @param x (B, T, in) the projection's input
   * @param y (B, T, out) the base projection {@code x W^T}
   * @return (B, T, out) {@code y + (alpha / r) * dropout(x) A^T B^T}
   */
  NDArray addTo(int layer, Layer t, NDArray x, NDArray y) {
    NDArray a = down[layer][t.ordinal()]; // (r, in)
    if (a == null) {
      return y;
    }
    NDArray b = up[layer][t.ordinal()]; // (out, r)
    NDArray h = training && spec.dropout() > 0 ? dropout(x) : x; // (B, T, in)
    // the scale on the r-wide middle: the same product, a narrower pass than on (B, T, out)
    NDArray mid = h.matMul(a.transpose()).mul(scale); // (B, T, r)
    return y.add(mid.matMul(b.transpose())); // (B, T, out)
  }

  /** Inverted dropout: each value kept with probability 1 - p and scaled by 1 / (1 - p). */
  private NDArray dropout(NDArray x) {
    NDArray keep =
        x.getManager()
            .randomUniform(0f, 1f, x.getShape(), DataType.FLOAT32, x.getDevice())
            .gte(spec.dropout().floatValue()) // (B, T, in) boolean, no gradient
            .toType(DataType.FLOAT32, false)
            .mul(keepScale); // (B, T, in) 0 or 1 / (1 - p)
    return x.mul(keep); // (B, T, in)
  }

  /**
   * Folds every adapter into its base weight in place: {@code W += (alpha / r) B A}. Runs without
   * gradients.
   *
   * @param weight the base weight (out, in) of a projection of a layer
   */
  void mergeInto(int layer, Layer t, NDArray weight) {
    NDArray a = down[layer][t.ordinal()]; // (r, in)
    if (a == null) {
      return;
    }
    try (NDManager tmp = manager.newSubManager()) {
      NDArray product = up[layer][t.ordinal()].matMul(a); // (out, r) @ (r, in) -> (out, in)
      product.attach(tmp);
      weight.addi(product.mul(scale)); // (out, in), the temporaries closed with tmp
    }
  }

  // ----------------------------------------------------------------------------------------
  // State.

  /** Whether dropout is applied (set for a training forward, cleared for evaluation). */
  public void training(boolean on) {
    this.training = on;
  }

  /** The settings. */
  public LoraSpec spec() {
    return spec;
  }

  /** Where the frozen base lives ({@code base_model_name_or_path}), or null. */
  public String baseModel() {
    return baseModel;
  }

  /** The adapters under PEFT's names, A and B of each projection, layer by layer. */
  public Map<String, NDArray> parameters() {
    return params;
  }

  /** Turns gradient tracking of the adapters on or off. */
  void requireGradients(boolean on) {
    for (NDArray p : params.values()) {
      p.setRequiresGradient(on);
    }
  }

  @Override
  public void close() {
    manager.close();
  }
}
