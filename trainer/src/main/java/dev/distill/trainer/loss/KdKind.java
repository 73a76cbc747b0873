package dev.distill.trainer.loss;

import dev.distill.spec.Catalog;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * The divergence between teacher distribution P and student distribution Q. The job spec owns the
 * {@code kd_loss} names ({@link Catalog#KD_LOSSES}); each kind's name is its constant's name in
 * lower case, and loading this enum fails unless the two lists are the same, in the same order.
 */
public enum KdKind {
  /** KL(P || Q) = sum_v P(v) (log P(v) - log Q(v)): mean-seeking, the classic Hinton KD. */
  FORWARD_KL,
  /** KL(Q || P) = sum_v Q(v) (log Q(v) - log P(v)): mode-seeking (MiniLLM). */
  REVERSE_KL,
  /**
   * Generalised Jensen-Shannon with beta, the convention of TRL's GKD trainer (Agarwal et al. 2024,
   * "On-policy distillation of language models"): M = beta P + (1 - beta) Q, JSD = beta KL(P || M)
   * + (1 - beta) KL(Q || M). beta = 0.5 is the symmetric JSD. At the edges the expression itself
   * vanishes (M equals Q or P), so, as in TRL, beta = 0 is taken as forward KL and beta = 1 as
   * reverse KL: the limits of JSD / beta and JSD / (1 - beta).
   */
  JSD;

  static {
    List<String> names = Stream.of(values()).map(KdKind::specName).toList();
    if (!names.equals(Catalog.KD_LOSSES)) {
      throw new IllegalStateException(
          "KdKind "
              + names
              + " and Catalog.KD_LOSSES "
              + Catalog.KD_LOSSES
              + " must name the same losses");
    }
  }

  /** The name used in job specs ({@code kd_loss}). */
  public String specName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /**
   * @param name one of {@link Catalog#KD_LOSSES}, any case
   * @throws IllegalArgumentException naming the field and the value when unknown
   */
  public static KdKind fromSpecName(String name) {
    if (name != null) {
      for (KdKind k : values()) {
        if (k.specName().equals(name.toLowerCase(Locale.ROOT))) {
          return k;
        }
      }
    }
    throw new IllegalArgumentException(
        "kd_loss must be one of " + String.join(", ", Catalog.KD_LOSSES) + ", was '" + name + "'");
  }
}
