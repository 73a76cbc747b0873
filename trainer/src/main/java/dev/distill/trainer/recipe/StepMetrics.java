package dev.distill.trainer.recipe;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What one optimiser step measured.
 *
 * @param step the step just finished, from 1
 * @param maxSteps the run's step count
 * @param loss the optimised loss (kd_ratio * kd + (1 - kd_ratio) * ce)
 * @param kd the distillation term (NaN for finetune)
 * @param ce cross-entropy on the labels
 * @param lr learning rate used by this step
 * @param gradNorm global gradient norm before clipping
 * @param tokensPerSecond input tokens (padding excluded) processed per second in this step
 * @param stepSeconds wall time of the step
 * @param extra further series after the standard ones (for a dataset mix {@code tokens_<source>}:
 *     loss tokens of each source handed out so far); empty by default
 */
public record StepMetrics(
    long step,
    long maxSteps,
    double loss,
    double kd,
    double ce,
    double lr,
    double gradNorm,
    double tokensPerSecond,
    double stepSeconds,
    Map<String, Double> extra) {

  public StepMetrics {
    extra =
        extra == null
            ? Map.of()
            : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(extra));
  }

  /** The standard series only. */
  public StepMetrics(
      long step,
      long maxSteps,
      double loss,
      double kd,
      double ce,
      double lr,
      double gradNorm,
      double tokensPerSecond,
      double stepSeconds) {
    this(step, maxSteps, loss, kd, ce, lr, gradNorm, tokensPerSecond, stepSeconds, null);
  }

  /** The metric series names reported to the service. */
  public Map<String, Double> asMap() {
    Map<String, Double> m = new LinkedHashMap<>();
    m.put("loss", loss);
    if (!Double.isNaN(kd)) {
      m.put("kl", kd);
    }
    m.put("ce", ce);
    m.put("lr", lr);
    m.put("grad_norm", gradNorm);
    m.put("tokens_per_second", tokensPerSecond);
    m.put("step_seconds", stepSeconds);
    m.putAll(extra);
    return m;
  }
}
