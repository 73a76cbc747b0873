package dev.distill.trainer.optim;

import ai.djl.pytorch.jni.JniUtils;

/**
 * Turns PyTorch's thread-local grad mode off until closed, then restores it. In-place updates of
 * leaves that require a gradient fail (or build a graph) while grad mode is on, which it is inside
 * a {@link ai.djl.training.GradientCollector} (djl-notes bite 5); every in-place method of this
 * package runs inside one.
 */
final class GradMode implements AutoCloseable {

  private final boolean previous;

  private GradMode() {
    previous = JniUtils.isGradMode();
    JniUtils.setGradMode(false);
  }

  static GradMode off() {
    return new GradMode();
  }

  @Override
  public void close() {
    JniUtils.setGradMode(previous);
  }
}
