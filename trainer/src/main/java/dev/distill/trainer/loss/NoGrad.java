package dev.distill.trainer.loss;

import ai.djl.pytorch.jni.JniUtils;

/**
 * Turns PyTorch's thread-local grad mode off until closed, then restores what it was. Used for the
 * teacher's head inside the student's {@link ai.djl.training.GradientCollector}: the teacher's
 * logits must not build a graph.
 */
final class NoGrad implements AutoCloseable {

  private final boolean previous;

  private NoGrad() {
    previous = JniUtils.isGradMode();
    JniUtils.setGradMode(false);
  }

  static NoGrad open() {
    return new NoGrad();
  }

  @Override
  public void close() {
    JniUtils.setGradMode(previous);
  }
}
