package dev.distill.trainer.model.gemma2;

import ai.djl.ndarray.types.Shape;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The one table of Hugging Face tensor names of a Gemma2ForCausalLM, with their shapes. Linear
 * weights are stored (out, in), as torch.nn.Linear does. The head is tied to {@link #EMBED}, so
 * there is no {@code lm_head.weight}.
 */
public final class Gemma2WeightNames {

  /** (V, D) token embedding, also the output head. */
  public static final String EMBED = "model.embed_tokens.weight";

  /** (D) final RMSNorm weight (used as 1 + w). */
  public static final String FINAL_NORM = "model.norm.weight";

  private static final String LAYER_PREFIX = "model.layers.";

  /**
   * The decoder layer a tensor name belongs to ({@code model.layers.{i}.*}), or -1 for the
   * embedding, the final norm and names of no layer.
   */
  public static int layerOf(String name) {
    if (!name.startsWith(LAYER_PREFIX)) {
      return -1;
    }
    int end = name.indexOf('.', LAYER_PREFIX.length());
    try {
      return Integer.parseInt(name.substring(LAYER_PREFIX.length(), end < 0 ? name.length() : end));
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /** The tensors of one decoder layer, named {@code model.layers.{i}.<suffix>}. */
  public enum Layer {
    /** (D) RMSNorm before attention. */
    INPUT_NORM("input_layernorm.weight"),
    /** (H * hd, D) */
    Q_PROJ("self_attn.q_proj.weight"),
    /** (KV * hd, D) */
    K_PROJ("self_attn.k_proj.weight"),
    /** (KV * hd, D) */
    V_PROJ("self_attn.v_proj.weight"),
    /** (D, H * hd) */
    O_PROJ("self_attn.o_proj.weight"),
    /** (D) RMSNorm after attention, before the residual add. */
    POST_ATTN_NORM("post_attention_layernorm.weight"),
    /** (D) RMSNorm before the MLP. */
    PRE_FFN_NORM("pre_feedforward_layernorm.weight"),
    /** (I, D) */
    GATE_PROJ("mlp.gate_proj.weight"),
    /** (I, D) */
    UP_PROJ("mlp.up_proj.weight"),
    /** (D, I) */
    DOWN_PROJ("mlp.down_proj.weight"),
    /** (D) RMSNorm after the MLP, before the residual add. */
    POST_FFN_NORM("post_feedforward_layernorm.weight");

    private final String suffix;

    Layer(String suffix) {
      this.suffix = suffix;
    }

    /** The full name in layer i. */
    public String of(int layer) {
      return LAYER_PREFIX + layer + "." + suffix;
    }

    /** The expected shape under a config. */
    public Shape shape(Gemma2Config c) {
      long d = c.hiddenSize();
      long q = (long) c.numAttentionHeads() * c.headDim();
      long kv = (long) c.numKeyValueHeads() * c.headDim();
      long i = c.intermediateSize();
      return switch (this) {
        case INPUT_NORM, POST_ATTN_NORM, PRE_FFN_NORM, POST_FFN_NORM -> new Shape(d);
        case Q_PROJ -> new Shape(q, d);
        case K_PROJ, V_PROJ -> new Shape(kv, d);
        case O_PROJ -> new Shape(d, q);
        case GATE_PROJ, UP_PROJ -> new Shape(i, d);
        case DOWN_PROJ -> new Shape(d, i);
      };
    }

    /**
     * The Hugging Face module name of a projection ({@code q_proj}, ..., {@code down_proj}), as
     * PEFT's {@code target_modules} names it; null for a norm.
     */
    public String module() {
      if (isNorm()) {
        return null;
      }
      String path = suffix.substring(0, suffix.length() - ".weight".length()); // self_attn.q_proj
      return path.substring(path.lastIndexOf('.') + 1);
    }

    /** The projection of a module name ({@code q_proj}, ...). */
    public static Layer ofModule(String module) {
      for (Layer t : values()) {
        if (module.equals(t.module())) {
          return t;
        }
      }
      throw new IllegalArgumentException("no projection named '" + module + "'");
    }

    /**
     * PEFT's name of the LoRA A (down, (r, in)) or B (up, (out, r)) matrix of this projection in
     * layer i, as {@code save_pretrained} writes it (peft 0.21.0): {@code
     * base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight}.
     *
     * @param up false for A, true for B
     */
    public String lora(int layer, boolean up) {
      String base = of(layer); // model.layers.{i}.self_attn.q_proj.weight
      return PEFT_PREFIX
          + base.substring(0, base.length() - ".weight".length())
          + (up ? ".lora_B.weight" : ".lora_A.weight");
    }

    /**
     * Whether this is a norm weight (no weight decay; initialised to zero since it is used as 1 +
     * w).
     */
    public boolean isNorm() {
      return this == INPUT_NORM
          || this == POST_ATTN_NORM
          || this == PRE_FFN_NORM
          || this == POST_FFN_NORM;
    }
  }

  /**
   * The prefix PEFT puts before a base tensor's name in {@code adapter_model.safetensors} (the
   * PeftModel wrapper's {@code base_model}, LoraModel's {@code model}).
   */
  public static final String PEFT_PREFIX = "base_model.model.";

  private Gemma2WeightNames() {}

  /**
   * Every tensor of a model under a config with its shape, in a stable order (embedding, layers,
   * final norm).
   */
  public static Map<String, Shape> shapes(Gemma2Config c) {
    Map<String, Shape> m = new LinkedHashMap<>();
    m.put(EMBED, new Shape(c.vocabSize(), c.hiddenSize()));
    for (int i = 0; i < c.numHiddenLayers(); i++) {
      for (Layer t : Layer.values()) {
        m.put(t.of(i), t.shape(c));
      }
    }
    m.put(FINAL_NORM, new Shape(c.hiddenSize()));
    return m;
  }

  /**
   * Whether a tensor name is a norm weight (the optimiser skips weight decay on norms and
   * embeddings).
   */
  public static boolean isNorm(String name) {
    return name.equals(FINAL_NORM) || name.endsWith("layernorm.weight");
  }
}
