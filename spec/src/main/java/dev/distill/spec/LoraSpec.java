package dev.distill.spec;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models") for the student: each
 * targeted projection {@code W x} becomes {@code W x + (alpha / rank) * B A dropout(x)}, with A
 * (rank, in) and B (out, rank) the only tensors that train; the base weights stay frozen. The names
 * follow Hugging Face PEFT's {@code LoraConfig}.
 *
 * @param rank r, the inner width of the adapters
 * @param alpha the scale numerator: updates are multiplied by {@code alpha / rank}
 * @param dropout dropout on the adapters' input while training (0 turns it off)
 * @param targetModules the projections that get adapters, by Hugging Face name ({@link
 *     Catalog#LORA_TARGET_MODULES}); default all seven of attention and MLP
 */
public record LoraSpec(
    @JsonProperty("rank") Integer rank,
    @JsonProperty("alpha") Double alpha,
    @JsonProperty("dropout") Double dropout,
    @JsonProperty("target_modules") List<String> targetModules) {

  public LoraSpec {
    rank = rank == null ? 8 : rank;
    alpha = alpha == null ? 16.0 : alpha;
    dropout = dropout == null ? 0.0 : dropout;
    targetModules =
        targetModules == null
            ? Catalog.LORA_TARGET_MODULES
            : targetModules.stream()
                .map(m -> m == null ? null : m.toLowerCase(Locale.ROOT))
                .toList();
  }

  /** Rank 8, alpha 16, no dropout, every projection. */
  public static LoraSpec defaults() {
    return new LoraSpec(null, null, null, null);
  }

  /** {@code alpha / rank}, the factor of the adapters' output. */
  public double scale() {
    return alpha / rank;
  }

  void check(Violations v) {
    v.range("rank", rank, 1, 4096);
    v.positiveBelow("alpha", alpha, 1e6);
    // 1 would drop every input (and divide by 1 - p = 0)
    if (dropout != null && (Double.isNaN(dropout) || dropout < 0 || dropout >= 1)) {
      v.add("dropout", "must be at least 0 and below 1, was " + dropout);
    }
    if (targetModules.isEmpty()) {
      v.add("target_modules", "must name at least one module");
    }
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < targetModules.size(); i++) {
      String m = targetModules.get(i);
      if (m == null || !Catalog.LORA_TARGET_MODULES.contains(m)) {
        v.add("target_modules[" + i + "]", Catalog.oneOf(Catalog.LORA_TARGET_MODULES, m));
      } else if (!seen.add(m)) {
        v.add("target_modules[" + i + "]", "names '" + m + "' twice");
      }
    }
  }
}
