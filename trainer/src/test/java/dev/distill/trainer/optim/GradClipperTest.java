package dev.distill.trainer.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class GradClipperTest {

  private NDManager manager;
  private Map<String, NDArray> params;

  @BeforeEach
  void open() {
    manager = NDManager.newBaseManager();
    params =
        Grads.params(
            manager,
            "a",
            manager.create(new float[] {1f, 1f}),
            "b",
            manager.create(new float[] {1f, 1f, 1f, 1f}, new Shape(2, 2)),
            "frozen",
            manager.create(new float[] {1f}));
    params.get("frozen").setRequiresGradient(false);
    Map<String, float[]> g = new LinkedHashMap<>();
    g.put("a", new float[] {3f, 0f});
    g.put("b", new float[] {0f, 0f, 0f, 4f}); // global norm sqrt(9 + 16) = 5
    Grads.backward(manager, params, g);
  }

  @AfterEach
  void close() {
    manager.close();
  }

  @Test
  void scalesEveryGradientByOneFactorToTheThreshold() {
    double before = GradClipper.clip(params, 1.0);
    assertThat(before).isCloseTo(5.0, within(1e-6));
    assertThat(GradClipper.globalNorm(params)).isCloseTo(1.0, within(1e-5));
    assertThat(Grads.gradient(params.get("a")))
        .containsExactly(new float[] {0.6f, 0f}, within(1e-6f));
    assertThat(Grads.gradient(params.get("b")))
        .containsExactly(new float[] {0f, 0f, 0f, 0.8f}, within(1e-6f));
  }

  @Test
  void belowTheThresholdOrOffNothingChanges() {
    assertThat(GradClipper.clip(params, 10.0)).isCloseTo(5.0, within(1e-6));
    assertThat(GradClipper.clip(params, 0.0)).isCloseTo(5.0, within(1e-6));
    assertThat(Grads.gradient(params.get("b"))).containsExactly(0f, 0f, 0f, 4f);
  }
}
