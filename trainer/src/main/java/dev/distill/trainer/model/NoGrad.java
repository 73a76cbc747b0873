package dev.distill.trainer.model;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Turns PyTorch's autograd recording off on the current thread until closed, then restores what it
 * was. Grad mode is thread-local (a thread other than DJL's first one starts with it on) and is on
 * inside a {@link ai.djl.training.GradientCollector}. The one guard for every place that must not
 * build a graph: inference and a teacher's forward pass (no graph is kept, the teacher never
 * receives a gradient), and in-place updates of parameters that require a gradient (which fail or
 * build a graph while grad mode is on).
 *
 * <pre>{@code try (NoGrad ignored = NoGrad.enter()) { ... } }</pre>
 */
public final class NoGrad implements AutoCloseable {

  private final boolean previous;

  private NoGrad(boolean previous) {
    this.previous = previous;
  }

  /**
   * Loads the PyTorch engine if needed (its native library must be loaded before {@link JniUtils}
   * is called; once loaded this is a lookup), then turns grad mode off.
   */
  public static NoGrad enter() {
    Engine.getEngine("PyTorch");
    boolean previous = JniUtils.isGradMode();
    JniUtils.setGradMode(false);
    return new NoGrad(previous);
  }

  @Override
  public void close() {
    JniUtils.setGradMode(previous);
  }
}
