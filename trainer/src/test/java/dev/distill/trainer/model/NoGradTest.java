package dev.distill.trainer.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;

/**
 * The one grad-mode guard, on a thread of its own (grad mode is per thread): off inside, nested
 * guards restore off, the mode before comes back at the end, and a leaf that requires a gradient
 * can be updated in place inside a collector (what the optimiser does).
 */
class NoGradTest {

  @Test
  void turnsGradModeOffInsideACollectorAndRestoresIt() throws Exception {
    ExecutorService thread = Executors.newSingleThreadExecutor();
    try {
      thread.submit(NoGradTest::insideACollector).get();
    } finally {
      thread.shutdownNow();
    }
  }

  private static Void insideACollector() {
    try (NDManager m = NDManager.newBaseManager();
        GradientCollector collector = Engine.getInstance().newGradientCollector()) {
      assertThat(JniUtils.isGradMode()).as("inside a collector").isTrue();
      NDArray w = m.create(new float[] {1f, 2f}); // (2) a parameter
      w.setRequiresGradient(true);
      try (NoGrad outer = NoGrad.enter()) {
        assertThat(JniUtils.isGradMode()).isFalse();
        try (NoGrad inner = NoGrad.enter()) {
          assertThat(JniUtils.isGradMode()).isFalse();
        }
        assertThat(JniUtils.isGradMode()).as("after the inner guard").isFalse();
        w.subi(m.ones(w.getShape())); // in place on a leaf that requires a gradient
      }
      assertThat(JniUtils.isGradMode()).as("after the guard").isTrue();
      assertThat(w.toFloatArray()).containsExactly(0f, 1f);
    }
    return null;
  }
}
