package dev.distill.trainer.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import java.util.Map;

/**
 * Global-norm clipping, as {@code torch.nn.utils.clip_grad_norm_}: one norm over all gradients (the
 * square root of the sum of their squared norms) and one scale factor {@code maxNorm / (norm +
 * 1e-6)} applied to every gradient when the norm exceeds {@code maxNorm}.
 */
public final class GradClipper {

  private GradClipper() {}

  /**
   * The global norm of the gradients, without changing them.
   *
   * @param parameters the live parameters; those without a gradient are skipped
   */
  public static double globalNorm(Map<String, NDArray> parameters) {
    try (GradMode ignored = GradMode.off()) {
      NDArray sum = null; // () fp64, one device sync at the end
      for (NDArray p : parameters.values()) {
        NDArray grad = Gradients.of(p);
        if (grad == null) {
          continue;
        }
        try (NDArray g = grad;
            NDArray g64 = g.toType(DataType.FLOAT64, true);
            NDArray sq = g64.square();
            NDArray s = sq.sum()) {
          if (sum == null) {
            sum = s.duplicate();
          } else {
            sum.addi(s);
          }
        }
      }
      if (sum == null) {
        return 0.0;
      }
      try (NDArray total = sum) {
        return Math.sqrt(total.getDouble());
      }
    }
  }

  /**
   * Scales all gradients in place so that their global norm is at most {@code maxNorm}.
   *
   * @param parameters the live parameters
   * @param maxNorm the threshold; 0 only measures
   * @return the norm before clipping. A non-finite norm is returned without scaling anything, so
   *     that the caller can skip the step
   */
  public static double clip(Map<String, NDArray> parameters, double maxNorm) {
    if (!(maxNorm >= 0)) {
      throw new IllegalArgumentException("maxNorm must be 0 (off) or positive, was " + maxNorm);
    }
    double norm = globalNorm(parameters);
    if (maxNorm == 0 || !Double.isFinite(norm) || norm <= maxNorm) {
      return norm;
    }
    float scale = (float) (maxNorm / (norm + 1e-6));
    try (GradMode ignored = GradMode.off()) {
      for (NDArray p : parameters.values()) {
        try (NDArray g = Gradients.of(p)) {
          if (g != null) {
            g.muli(scale);
          }
        }
      }
    }
    return norm;
  }
}
