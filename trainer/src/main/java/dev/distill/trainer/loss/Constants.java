package dev.distill.trainer.loss;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * The scalar tensors of one loss call, made natively with {@code manager.full} (never Java-buffer
 * scalars such as {@code x.mul(2f)}, which corrupt gradients: djl-notes bite 2). They must outlive
 * the backward pass of the call.
 */
final class Constants implements AutoCloseable {

  /** () 1 / T. */
  final NDArray invTemperature;

  /** () beta and 1 - beta of the JSD mixture. */
  final NDArray beta;

  final NDArray oneMinusBeta;

  /** () log(beta) and log(1 - beta), only finite for 0 &lt; beta &lt; 1. */
  final NDArray logBeta;

  final NDArray logOneMinusBeta;

  /** () multiplies the summed divergence: kdRatio * T^2 / N. */
  final NDArray kdCoefficient;

  /** () multiplies the summed cross-entropy: (1 - kdRatio) / N. */
  final NDArray ceCoefficient;

  /** () for reporting: T^2 / N and 1 / N. */
  final NDArray kdScale;

  final NDArray ceScale;

  /** () kdRatio and 1 - kdRatio for reporting the total. */
  final NDArray kdRatio;

  final NDArray ceRatio;

  /**
   * @param normaliser unmasked tokens of the whole accumulated batch; 0 is treated as 1 so that an
   *     all-masked batch gives 0, not NaN
   */
  Constants(NDManager manager, KdLossConfig config, long normaliser) {
    double n = Math.max(1L, normaliser);
    double t2 = config.temperature() * config.temperature();
    double beta = config.jsdBeta();
    invTemperature = scalar(manager, 1.0 / config.temperature());
    this.beta = scalar(manager, beta);
    oneMinusBeta = scalar(manager, 1.0 - beta);
    logBeta = scalar(manager, beta > 0 ? Math.log(beta) : 0.0);
    logOneMinusBeta = scalar(manager, beta < 1 ? Math.log(1.0 - beta) : 0.0);
    kdCoefficient = scalar(manager, config.kdRatio() * t2 / n);
    ceCoefficient = scalar(manager, (1.0 - config.kdRatio()) / n);
    kdScale = scalar(manager, t2 / n);
    ceScale = scalar(manager, 1.0 / n);
    kdRatio = scalar(manager, config.kdRatio());
    ceRatio = scalar(manager, 1.0 - config.kdRatio());
  }

  @Override
  public void close() {
    for (NDArray a :
        new NDArray[] {
          invTemperature,
          beta,
          oneMinusBeta,
          logBeta,
          logOneMinusBeta,
          kdCoefficient,
          ceCoefficient,
          kdScale,
          ceScale,
          kdRatio,
          ceRatio
        }) {
      a.close();
    }
  }

  private static NDArray scalar(NDManager manager, double v) {
    return manager.full(new Shape(), (float) v, DataType.FLOAT32);
  }
}
