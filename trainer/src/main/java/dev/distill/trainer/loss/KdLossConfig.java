package dev.distill.trainer.loss;

import dev.distill.spec.Hyperparameters;
import dev.distill.spec.plan.PlanInputs;

/**
 * Settings of {@link KdLoss}; checks itself.
 *
 * @param kind the divergence; null for cross-entropy only (fine-tuning, no teacher), which needs
 *     kdRatio 0
 * @param temperature T &gt; 0 applied to teacher and student logits; the KD term is multiplied by
 *     T^2 so that its gradient keeps its size across temperatures (Hinton et al. 2015)
 * @param kdRatio loss = kdRatio * KD + (1 - kdRatio) * CE, in [0, 1]; 0 is plain fine-tuning (no
 *     teacher)
 * @param jsdBeta beta of {@link KdKind#JSD}, in [0, 1]; ignored by the other kinds
 * @param chunkSize tokens in the loss (unmasked positions, counted over the whole micro-batch)
 *     whose logits are materialised at once, at least 1
 */
public record KdLossConfig(
    KdKind kind, double temperature, double kdRatio, double jsdBeta, int chunkSize) {

  public KdLossConfig {
    if (kind == null && kdRatio != 0) {
      throw new IllegalArgumentException(
          "kind must not be null when kdRatio is not 0, was kdRatio " + kdRatio);
    }
    if (!(temperature > 0) || temperature > 100 || Double.isInfinite(temperature)) {
      throw new IllegalArgumentException(
          "temperature must be greater than 0 and at most 100, was " + temperature);
    }
    if (!(kdRatio >= 0 && kdRatio <= 1)) {
      throw new IllegalArgumentException("kdRatio must be between 0 and 1, was " + kdRatio);
    }
    if (!(jsdBeta >= 0 && jsdBeta <= 1)) {
      throw new IllegalArgumentException("jsdBeta must be between 0 and 1, was " + jsdBeta);
    }
    if (chunkSize < 1) {
      throw new IllegalArgumentException("chunkSize must be at least 1, was " + chunkSize);
    }
  }

  /** Logit values one chunk holds when the spec leaves {@code loss_chunk_size} out: 2^24. */
  public static final long AUTO_CHUNK_LOGITS = PlanInputs.AUTO_CHUNK_LOGITS;

  /**
   * The chunk of a spec: {@code requested} when given, else as many tokens as keep one chunk's
   * logits at {@link #AUTO_CHUNK_LOGITS} values (at least 16).
   *
   * @param requested {@code loss_chunk_size}, or null
   * @param vocab the widest output of the models in the loss
   */
  public static int chunkSize(Integer requested, int vocab) {
    return PlanInputs.lossChunk(requested, vocab); // the memory plan's rule, written once
  }

  /**
   * The loss of a job spec ({@code kd_loss}, {@code temperature}, {@code kd_ratio}, ...).
   *
   * @param chunk loss tokens per chunk, from {@link #chunkSize}
   */
  public static KdLossConfig from(Hyperparameters h, int chunk) {
    return new KdLossConfig(
        KdKind.fromSpecName(h.kdLoss()), h.temperature(), h.kdRatio(), h.jsdBeta(), chunk);
  }

  /**
   * Cross-entropy only: fine-tuning without a teacher. No divergence ({@code kind} null, kdRatio
   * 0); temperature and jsdBeta keep their neutral defaults and scale nothing.
   */
  public static KdLossConfig crossEntropyOnly(int chunkSize) {
    return new KdLossConfig(null, 1.0, 0.0, 0.5, chunkSize);
  }

  /** True when the teacher is needed (kdRatio &gt; 0). */
  public boolean needsTeacher() {
    return kdRatio > 0;
  }
}
