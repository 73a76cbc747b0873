package dev.distill.trainer.model.gemma2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.offset;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.distill.trainer.fused.FusedOps;
import dev.distill.trainer.model.NoGrad;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The TorchScript GeGLU against hand-computed values and derivatives (in double, from the tanh
 * formula), and against the composed DJL ops it replaces.
 */
class GegluTest {

  private static final double C = Math.sqrt(2 / Math.PI);
  private static final float[] GATE = {-4f, -1.5f, -0.3f, 0f, 0.2f, 1f, 2.5f, 6f};
  private static final float[] UP = {0.5f, -2f, 3f, 1f, -0.7f, 1.5f, 2f, -1f};

  private static double gelu(double x) {
    return 0.5 * x * (1 + Math.tanh(C * (x + 0.044715 * x * x * x)));
  }

  private static double geluDerivative(double x) {
    double t = Math.tanh(C * (x + 0.044715 * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C * (1 + 3 * 0.044715 * x * x);
  }

  /** Value, d/dgate and d/dup of sum(geglu(gate, up) * r) with r = 1, 2, 3, ... */
  private static float[][] valueAndGradients(Gemma2Model model, NDManager parent) {
    try (NDManager m = parent.newSubManager();
        GradientCollector collector = Engine.getInstance().newGradientCollector()) {
      NDArray gate = m.create(GATE, new Shape(2, 4)); // (B=2, I=4)
      NDArray up = m.create(UP, new Shape(2, 4)); // (2, 4)
      gate.setRequiresGradient(true);
      up.setRequiresGradient(true);
      NDArray r = m.arange(1f, 9f).reshape(2, 4); // (2, 4) weights, so each gradient differs
      NDArray y = model.geglu(gate, up); // (2, 4)
      collector.backward(y.mul(r).sum());
      try (NDArray dGate = gate.getGradient();
          NDArray dUp = up.getGradient()) {
        return new float[][] {y.toFloatArray(), dGate.toFloatArray(), dUp.toFloatArray()};
      }
    }
  }

  private static Gemma2Model tiny(NDManager m) {
    return Gemma2Model.init(
        Gemma2Config.preset("gemma2-tiny")
            .withOverrides(Map.of("num_hidden_layers", 1, "vocab_size", 16)),
        m,
        1);
  }

  @Test
  void fusedGegluMatchesHandComputedValuesAndDerivatives() {
    assertThat(FusedOps.enabled()).as("fused ops are the default").isTrue();
    try (NDManager m = NDManager.newBaseManager();
        Gemma2Model model = tiny(m)) {
      float[][] got = valueAndGradients(model, m);
      for (int i = 0; i < GATE.length; i++) {
        double g = GATE[i];
        double u = UP[i];
        double r = i + 1;
        assertThat((double) got[0][i]).as("geglu[%d]", i).isCloseTo(gelu(g) * u, offset(2e-6));
        assertThat((double) got[1][i])
            .as("d/dgate[%d]", i)
            .isCloseTo(r * u * geluDerivative(g), offset(2e-5));
        assertThat((double) got[2][i]).as("d/dup[%d]", i).isCloseTo(r * gelu(g), offset(2e-5));
      }
    }
  }

  @Test
  void fusedAndComposedGegluAgree() {
    try (NDManager m = NDManager.newBaseManager();
        Gemma2Model model = tiny(m)) {
      float[][] fused = valueAndGradients(model, m);
      float[][] composed;
      System.setProperty(FusedOps.PROPERTY, "false");
      try {
        assertThat(FusedOps.enabled()).isFalse();
        composed = valueAndGradients(model, m);
      } finally {
        System.clearProperty(FusedOps.PROPERTY);
      }
      for (int k = 0; k < 3; k++) {
        for (int i = 0; i < GATE.length; i++) {
          assertThat(fused[k][i])
              .as("part %d, element %d", k, i)
              .isCloseTo(composed[k][i], offset(1e-5f));
        }
      }
    }
  }

  @Test
  void recordsNoGraphWithoutGradMode() {
    try (NDManager m = NDManager.newBaseManager();
        Gemma2Model model = tiny(m);
        NoGrad ignored = NoGrad.enter()) {
      NDArray gate = m.create(GATE);
      NDArray up = m.create(UP);
      gate.setRequiresGradient(true);
      NDArray y = model.geglu(gate, up);
      assertThat(y.hasGradient()).as("output of a no-grad call requires no gradient").isFalse();
      assertThat(y.toFloatArray()[6]).isCloseTo((float) (gelu(2.5) * 2), offset(1e-5f));
    }
  }
}
