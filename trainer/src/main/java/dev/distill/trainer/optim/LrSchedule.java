package dev.distill.trainer.optim;

/**
 * Linear warm-up to the peak, then cosine decay to {@code minLrRatio * peak}: a pure function of
 * the step.
 *
 * <p>Steps count from 1 (the first update). With W warm-up steps and S steps in all:
 *
 * <ul>
 *   <li>s &lt;= W: lr = peak * s / W (so step W runs at the peak);
 *   <li>s &gt; W: p = (s - W) / (S - W), lr = peak * (min + (1 - min) * (1 + cos(pi p)) / 2), so
 *       the midpoint of the decay runs at peak * (1 + min) / 2 and step S at peak * min;
 *   <li>s &gt; S stays at peak * min.
 * </ul>
 *
 * @param peak the peak learning rate
 * @param warmupSteps W
 * @param maxSteps S
 * @param minLrRatio min
 */
public record LrSchedule(double peak, int warmupSteps, int maxSteps, double minLrRatio) {

  public LrSchedule {
    if (!(peak > 0)) {
      throw new IllegalArgumentException("peak must be greater than 0, was " + peak);
    }
    if (maxSteps < 1 || warmupSteps < 0 || warmupSteps > maxSteps) {
      throw new IllegalArgumentException(
          "need 0 <= warmupSteps <= maxSteps and maxSteps >= 1, were "
              + warmupSteps
              + " and "
              + maxSteps);
    }
    if (!(minLrRatio >= 0 && minLrRatio <= 1)) {
      throw new IllegalArgumentException("minLrRatio must be between 0 and 1, was " + minLrRatio);
    }
  }

  /**
   * @param step the update about to be made, from 1
   * @return its learning rate
   */
  public double lr(long step) {
    if (step < 1) {
      throw new IllegalArgumentException("step counts from 1, was " + step);
    }
    if (step <= warmupSteps) {
      return peak * step / warmupSteps;
    }
    int decay = maxSteps - warmupSteps;
    double progress = decay == 0 ? 1.0 : Math.min(1.0, (double) (step - warmupSteps) / decay);
    return peak * (minLrRatio + (1 - minLrRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
  }
}
