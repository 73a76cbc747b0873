package dev.distill.trainer.optim;

import dev.distill.spec.Hyperparameters;

/**
 * AdamW, schedule and clipping settings; checks itself.
 *
 * @param learningRate peak learning rate, &gt; 0
 * @param minLrRatio the cosine ends at {@code learningRate * minLrRatio}, in [0, 1]
 * @param warmupSteps linear warm-up steps, in [0, maxSteps]
 * @param maxSteps total optimiser steps, at least 1
 * @param weightDecay decoupled weight decay, in [0, 1]
 * @param beta1 first-moment decay, in [0, 1)
 * @param beta2 second-moment decay, in [0, 1)
 * @param eps added to sqrt(v_hat), &gt; 0
 * @param gradClip global-norm threshold; 0 turns clipping off
 */
public record OptimizerConfig(
    double learningRate,
    double minLrRatio,
    int warmupSteps,
    int maxSteps,
    double weightDecay,
    double beta1,
    double beta2,
    double eps,
    double gradClip) {

  /** PyTorch's default epsilon of AdamW. */
  public static final double DEFAULT_EPS = 1e-8;

  public OptimizerConfig {
    if (!(learningRate > 0) || Double.isInfinite(learningRate)) {
      throw new IllegalArgumentException(
          "learningRate must be greater than 0, was " + learningRate);
    }
    if (!(minLrRatio >= 0 && minLrRatio <= 1)) {
      throw new IllegalArgumentException("minLrRatio must be between 0 and 1, was " + minLrRatio);
    }
    if (maxSteps < 1) {
      throw new IllegalArgumentException("maxSteps must be at least 1, was " + maxSteps);
    }
    if (warmupSteps < 0 || warmupSteps > maxSteps) {
      throw new IllegalArgumentException(
          "warmupSteps must be between 0 and maxSteps (" + maxSteps + "), was " + warmupSteps);
    }
    if (!(weightDecay >= 0 && weightDecay <= 1)) {
      throw new IllegalArgumentException("weightDecay must be between 0 and 1, was " + weightDecay);
    }
    if (!(beta1 >= 0 && beta1 < 1)) {
      throw new IllegalArgumentException("beta1 must be in [0, 1), was " + beta1);
    }
    if (!(beta2 >= 0 && beta2 < 1)) {
      throw new IllegalArgumentException("beta2 must be in [0, 1), was " + beta2);
    }
    if (!(eps > 0) || Double.isInfinite(eps)) {
      throw new IllegalArgumentException("eps must be greater than 0, was " + eps);
    }
    if (!(gradClip >= 0) || Double.isInfinite(gradClip)) {
      throw new IllegalArgumentException("gradClip must be 0 (off) or positive, was " + gradClip);
    }
  }

  /** The optimiser of a job spec. */
  public static OptimizerConfig from(Hyperparameters h) {
    return new OptimizerConfig(
        h.learningRate(),
        h.minLrRatio(),
        h.warmupSteps(),
        h.maxSteps(),
        h.weightDecay(),
        h.beta1(),
        h.beta2(),
        DEFAULT_EPS,
        h.gradClip());
  }

  /** The schedule these settings describe. */
  public LrSchedule schedule() {
    return new LrSchedule(learningRate, warmupSteps, maxSteps, minLrRatio);
  }
}
