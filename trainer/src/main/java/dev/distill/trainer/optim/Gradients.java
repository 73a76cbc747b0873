package dev.distill.trainer.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Reads a parameter's gradient the way {@code torch.optim} does: absent until a backward pass
 * reaches it.
 */
final class Gradients {

  private Gradients() {}

  /**
   * @return a new handle on the gradient (close it), or null when the parameter does not require
   *     one or no backward pass has reached it yet. DJL's {@code getGradient()} would return fresh
   *     zeros in that case, which AdamW would wrongly treat as a zero gradient (moving the
   *     parameter by its old moments)
   */
  static NDArray of(NDArray parameter) {
    if (!parameter.hasGradient()) {
      return null;
    }
    if (parameter instanceof PtNDArray pt) {
      return JniUtils.getGradient(pt);
    }
    return parameter.getGradient();
  }
}
