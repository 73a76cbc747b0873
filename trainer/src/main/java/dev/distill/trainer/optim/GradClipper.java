package dev.distill.trainer.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.List;
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
    // As clip_grad_norm_: the norm of the per-tensor norms. Each tensor's norm is one fused pass
    // over its gradient (no squared copy); the few norms are stacked, squared and summed in fp64,
    // with one device sync at the end.
    List<NDArray> norms = new ArrayList<>();
    try (GradMode ignored = GradMode.off()) {
      for (NDArray p : parameters.values()) {
        try (NDArray g = Gradients.of(p)) {
          if (g != null) {
            norms.add(g.norm()); // () in the gradient's dtype
          }
        }
      }
      if (norms.isEmpty()) {
        return 0.0;
      }
      try (NDArray stacked = NDArrays.stack(new NDList(norms)); // (P)
          NDArray wide = stacked.toType(DataType.FLOAT64, false);
          NDArray squares = wide.square();
          NDArray total = squares.sum()) {
        return Math.sqrt(total.getDouble());
      }
    } finally {
      norms.forEach(NDArray::close);
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
