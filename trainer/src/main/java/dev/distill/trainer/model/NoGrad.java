package dev.distill.trainer.model;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Turns autograd recording off on the current thread until closed (PyTorch's grad mode is
 * thread-local, and a thread other than DJL's first one starts with it on): for inference, so that
 * no graph is kept.
 *
 * <pre>{@code try (NoGrad ignored = NoGrad.enter()) { ... } }</pre>
 */
public final class NoGrad implements AutoCloseable {

  private final boolean previous;

  private NoGrad(boolean previous) {
    this.previous = previous;
  }

  /** Loads the PyTorch engine if needed, then turns grad mode off. */
  public static NoGrad enter() {
    Engine.getEngine("PyTorch"); // the native library must be loaded before JniUtils is called
    boolean previous = JniUtils.isGradMode();
    JniUtils.setGradMode(false);
    return new NoGrad(previous);
  }

  @Override
  public void close() {
    JniUtils.setGradMode(previous);
  }
}
