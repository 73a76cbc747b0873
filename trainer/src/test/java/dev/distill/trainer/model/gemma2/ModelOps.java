package dev.distill.trainer.model.gemma2;

import ai.djl.ndarray.NDArray;

/** The model's package-private element-wise blocks, for benchmarks outside the package. */
public final class ModelOps {

  private ModelOps() {}

  /** {@link Gemma2Model#rmsNorm}: the composed RMSNorm the model runs. */
  public static NDArray rmsNorm(Gemma2Model model, NDArray x, NDArray w) {
    return model.rmsNorm(x, w);
  }

  /** {@link Gemma2Model#geglu}: the model's GeGLU (fused_ops.pt's gelu kernel times up). */
  public static NDArray geglu(Gemma2Model model, NDArray gate, NDArray up) {
    return model.geglu(gate, up);
  }
}
