package dev.distill.trainer.loss;

import java.util.Locale;

/**
 * The divergence between teacher distribution P and student distribution Q. The spec names are the
 * spec's {@code Catalog.KD_LOSSES} ({@code KdLossConfigTest} asserts they are exactly these).
 */
public enum KdKind {
  /** KL(P || Q) = sum_v P(v) (log P(v) - log Q(v)): mean-seeking, the classic Hinton KD. */
  FORWARD_KL("forward_kl"),
  /** KL(Q || P) = sum_v Q(v) (log Q(v) - log P(v)): mode-seeking (MiniLLM). */
  REVERSE_KL("reverse_kl"),
  /**
   * Generalised Jensen-Shannon with beta, the convention of TRL's GKD trainer (Agarwal et al. 2024,
   * "On-policy distillation of language models"): M = beta P + (1 - beta) Q, JSD = beta KL(P || M)
   * + (1 - beta) KL(Q || M). beta = 0.5 is the symmetric JSD. At the edges the expression itself
   * vanishes (M equals Q or P), so, as in TRL, beta = 0 is taken as forward KL and beta = 1 as
   * reverse KL: the limits of JSD / beta and JSD / (1 - beta).
   */
  JSD("jsd");

  private final String specName;

  KdKind(String specName) {
    this.specName = specName;
  }

  /** The name used in job specs ({@code kd_loss}). */
  public String specName() {
    return specName;
  }

  /**
   * @param name {@code forward_kl}, {@code reverse_kl} or {@code jsd}, any case
   * @throws IllegalArgumentException naming the field and the value when unknown
   */
  public static KdKind fromSpecName(String name) {
    if (name != null) {
      String lower = name.toLowerCase(Locale.ROOT);
      for (KdKind k : values()) {
        if (k.specName.equals(lower)) {
          return k;
        }
      }
    }
    throw new IllegalArgumentException(
        "kd_loss must be one of forward_kl, reverse_kl, jsd, was '" + name + "'");
  }
}
