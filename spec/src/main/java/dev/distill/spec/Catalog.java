package dev.distill.spec;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every name a spec may use, in one place: the spec's checks reject any other (so the service and
 * the CLI refuse it at submission, naming the field), the trainer takes its names from here, and
 * the OpenAPI schema and {@code docs/spec.md} list them. The trainer's tests assert that its
 * registries (model presets, prompt templates, config keys) hold exactly these names.
 */
public final class Catalog {

  /** {@code builtin:<preset>} models: Gemma 2's real sizes and the small CPU presets. */
  public static final List<String> MODEL_PRESETS =
      List.of(
          "gemma2-2b",
          "gemma2-9b",
          "gemma2-27b",
          "gemma2-tiny",
          "gemma2-demo-teacher",
          "gemma2-demo-student");

  /** {@code builtin:<name>} datasets. */
  public static final List<String> DATASETS = List.of("procedural");

  /** {@code dataset.format}. */
  public static final List<String> FORMATS = List.of("alpaca", "chat", "text", "augmented");

  /** {@code dataset.template}: the chat (or Alpaca) prompt templates. */
  public static final List<String> TEMPLATES =
      List.of("alpaca", "gemma", "llama3", "phi3", "chatml");

  /**
   * {@code generation.pre_query_template}: Magpie's template families, each with the prompt
   * template ({@link #TEMPLATES}) it renders with.
   */
  public static final Map<String, String> PRE_QUERY_TEMPLATES = preQueryTemplates();

  /** {@code hyperparameters.kd_loss}. */
  public static final List<String> KD_LOSSES = List.of("forward_kl", "reverse_kl", "jsd");

  /**
   * Values of {@code hyperparameters.precision}: fp32; bf16-mixed (bf16 compute, fp32 master
   * weights, optimizer state, loss and softmax); bf16 (bf16 weights, fp32 optimizer state). Unset
   * means the worker's default: bf16-mixed on CUDA, fp32 on CPU.
   */
  public static final List<String> PRECISIONS = dev.distill.spec.plan.Precision.NAMES;

  /**
   * {@code hyperparameters.lora.target_modules}: the projections of a Gemma 2 layer, by Hugging
   * Face name (attention, then MLP).
   */
  public static final List<String> LORA_TARGET_MODULES =
      List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

  /** {@code requirements.device}. */
  public static final List<String> DEVICES = List.of("cpu", "cuda");

  /** The built-in byte-level tokenizer: {@code tokenizer: "byte"}. */
  public static final String BYTE_TOKENIZER = "byte";

  /**
   * Keys of a builtin model's {@code config} overrides: the Hugging Face Gemma 2 {@code
   * config.json} keys with a scalar value.
   */
  public static final List<String> CONFIG_KEYS =
      List.of(
          "vocab_size",
          "hidden_size",
          "intermediate_size",
          "num_hidden_layers",
          "num_attention_heads",
          "num_key_value_heads",
          "head_dim",
          "max_position_embeddings",
          "rms_norm_eps",
          "rope_theta",
          "attn_logit_softcapping",
          "final_logit_softcapping",
          "query_pre_attn_scalar",
          "sliding_window",
          "hidden_activation",
          "hidden_act",
          "tie_word_embeddings",
          "bos_token_id",
          "eos_token_id",
          "pad_token_id",
          "attention_bias",
          "attention_dropout",
          "torch_dtype");

  private Catalog() {}

  private static Map<String, String> preQueryTemplates() {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("gemma2", "gemma");
    m.put("gemma", "gemma");
    m.put("llama3", "llama3");
    m.put("phi3", "phi3");
    m.put("chatml", "chatml");
    m.put("qwen2", "chatml");
    return Collections.unmodifiableMap(m);
  }

  /** {@code must be one of a, b, c, was 'x'}. */
  static String oneOf(java.util.Collection<String> names, String value) {
    return "must be one of " + String.join(", ", names) + ", was '" + value + "'";
  }
}
