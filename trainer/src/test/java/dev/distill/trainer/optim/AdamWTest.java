package dev.distill.trainer.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.distill.trainer.fused.FusedOps;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class AdamWTest {

  private static final String W = "model.layers.0.mlp.up_proj.weight";
  private static final String NORM = "model.norm.weight";
  private static final String EMBED = "model.embed_tokens.weight";
  private static final String BIAS = "model.layers.0.mlp.up_proj.bias";

  private NDManager manager;

  @BeforeEach
  void open() {
    manager = NDManager.newBaseManager();
  }

  @AfterEach
  void close() {
    manager.close();
  }

  private Map<String, NDArray> params() {
    return Grads.params(
        manager,
        W,
        manager.create(new float[] {1f, -2f, 0.5f, 3f}, new Shape(2, 2)),
        NORM,
        manager.create(new float[] {1f, 2f}),
        EMBED,
        manager.create(new float[] {1f, 1f, 1f, 1f}, new Shape(2, 2)),
        BIAS,
        manager.create(new float[] {0.5f, -0.5f}));
  }

  private static Map<String, float[]> grads1() {
    Map<String, float[]> g = new LinkedHashMap<>();
    g.put(W, new float[] {0.1f, -0.2f, 0.3f, 0f});
    g.put(NORM, new float[] {0.5f, -0.5f});
    g.put(EMBED, new float[] {1f, 2f, 3f, 4f});
    g.put(BIAS, new float[] {2f, -1f});
    return g;
  }

  private static Map<String, float[]> grads2() {
    Map<String, float[]> g = new LinkedHashMap<>();
    g.put(W, new float[] {-0.3f, 0.1f, 0.3f, 0.2f});
    g.put(NORM, new float[] {0.25f, 1f});
    g.put(EMBED, new float[] {-1f, 0.5f, 0f, 2f});
    g.put(BIAS, new float[] {0.1f, 0.1f});
    return g;
  }

  private static OptimizerConfig config(double weightDecay) {
    return new OptimizerConfig(0.1, 0.1, 0, 100, weightDecay, 0.9, 0.999, 1e-8, 0);
  }

  @Test
  void decayRuleByNameAndRank() {
    Map<String, NDArray> p = params();
    assertThat(AdamW.decays(W, p.get(W))).isTrue();
    assertThat(AdamW.decays(NORM, p.get(NORM))).isFalse();
    assertThat(AdamW.decays(EMBED, p.get(EMBED))).isFalse();
    assertThat(AdamW.decays(BIAS, p.get(BIAS))).isFalse();
    assertThat(AdamW.decays("model.layers.3.post_feedforward_layernorm.weight", p.get(W)))
        .isFalse();
    assertThat(AdamW.decays("lm_head.weight", p.get(W))).isTrue();
  }

  @Test
  void firstStepByHandWithAndWithoutDecay() {
    // step 1: m_hat = g, sqrt(v_hat) = |g|, so p <- p (1 - lr wd) - lr g / (|g| + eps)
    // lr = 0.1, wd = 0.1: decayed W = 0.99 W - 0.1 sign(g) (g = 0: no Adam move)
    Map<String, NDArray> p = params();
    try (AdamW adam = new AdamW(config(0.1), p, manager)) {
      Grads.backward(manager, p, grads1());
      adam.step(0.1);
      assertThat(Grads.values(p.get(W)))
          .containsExactly(new float[] {0.89f, -1.88f, 0.395f, 2.97f}, within(1e-6f));
      // norm, embedding and bias: no decay
      assertThat(Grads.values(p.get(NORM)))
          .containsExactly(new float[] {0.9f, 2.1f}, within(1e-6f));
      assertThat(Grads.values(p.get(EMBED)))
          .containsExactly(new float[] {0.9f, 0.9f, 0.9f, 0.9f}, within(1e-6f));
      assertThat(Grads.values(p.get(BIAS)))
          .containsExactly(new float[] {0.4f, -0.4f}, within(1e-6f));
      assertThat(adam.step()).isEqualTo(1);
      // gradients are zeroed after the step
      for (NDArray a : p.values()) {
        assertThat(Grads.gradient(a)).containsOnly(0f);
      }
    }
    Map<String, NDArray> q = params();
    try (AdamW adam = new AdamW(config(0.0), q, manager)) {
      Grads.backward(manager, q, grads1());
      adam.step(0.1);
      assertThat(Grads.values(q.get(W)))
          .containsExactly(new float[] {0.9f, -1.9f, 0.4f, 3.0f}, within(1e-6f));
    }
  }

  /** Both the fused kernel (the default) and the composed ops against doubles. */
  @ParameterizedTest(name = "fused ops {0}")
  @ValueSource(booleans = {true, false})
  void secondStepMatchesAPlainDoubleImplementation(boolean fused) {
    System.setProperty(FusedOps.PROPERTY, Boolean.toString(fused));
    try {
      secondStepMatchesAPlainDoubleImplementation();
    } finally {
      System.clearProperty(FusedOps.PROPERTY);
    }
  }

  private void secondStepMatchesAPlainDoubleImplementation() {
    Map<String, NDArray> p = params();
    Map<String, float[]> start = new LinkedHashMap<>();
    p.forEach((k, v) -> start.put(k, v.toFloatArray()));
    OptimizerConfig c = new OptimizerConfig(0.05, 0.1, 0, 100, 0.2, 0.8, 0.9, 1e-8, 0);
    try (AdamW adam = new AdamW(c, p, manager)) {
      Grads.backward(manager, p, grads1());
      adam.step(0.05);
      Grads.backward(manager, p, grads2());
      adam.step(0.02);
    }
    for (String name : p.keySet()) {
      double[] expected =
          plainAdamW(
              start.get(name),
              new float[][] {grads1().get(name), grads2().get(name)},
              new double[] {0.05, 0.02},
              name.equals(W) ? 0.2 : 0.0,
              0.8,
              0.9,
              1e-8);
      float[] actual = Grads.values(p.get(name));
      for (int i = 0; i < actual.length; i++) {
        assertThat((double) actual[i])
            .as(name + "[" + i + "]")
            .isCloseTo(expected[i], within(1e-6));
      }
    }
  }

  /** torch.optim.AdamW written out in doubles, one element at a time. */
  private static double[] plainAdamW(
      float[] p0, float[][] grads, double[] lrs, double wd, double b1, double b2, double eps) {
    double[] p = new double[p0.length];
    double[] m = new double[p0.length];
    double[] v = new double[p0.length];
    for (int i = 0; i < p.length; i++) {
      p[i] = p0[i];
    }
    for (int t = 1; t <= grads.length; t++) {
      double lr = lrs[t - 1];
      for (int i = 0; i < p.length; i++) {
        double g = grads[t - 1][i];
        p[i] -= lr * wd * p[i];
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        double mHat = m[i] / (1 - Math.pow(b1, t));
        double vHat = v[i] / (1 - Math.pow(b2, t));
        p[i] -= lr * mHat / (Math.sqrt(vHat) + eps);
      }
    }
    return p;
  }

  @Test
  void stepsInsideAnOpenCollectorToo() {
    Map<String, NDArray> p = params();
    try (AdamW adam = new AdamW(config(0.1), p, manager)) {
      Grads.backward(manager, p, grads1());
      try (GradientCollector gc = manager.getEngine().newGradientCollector()) {
        adam.step(0.1); // grad mode is on here; the update must still be in place and graph-free
      }
      assertThat(Grads.values(p.get(W)))
          .containsExactly(new float[] {0.89f, -1.88f, 0.395f, 2.97f}, within(1e-6f));
    }
  }

  @Test
  void parametersNoBackwardReachedStayPutAndTiedWeightsAreRefused() {
    Map<String, NDArray> p = params();
    NDArray unused = manager.create(new float[] {1f, 2f, 3f, 4f}, new Shape(2, 2));
    unused.setRequiresGradient(true);
    p.put("model.layers.1.mlp.down_proj.weight", unused);
    try (AdamW adam = new AdamW(config(0.1), p, manager)) {
      Grads.backward(manager, p, grads1());
      AdamW.StepReport r = adam.clipAndStep();
      assertThat(r.learningRate())
          .isCloseTo(0.1 * (0.1 + 0.9 * (1 + Math.cos(Math.PI / 100)) / 2), within(1e-12));
      assertThat(r.gradNorm()).isGreaterThan(5.0);
      // no gradient: neither decayed nor moved, as torch.optim skips grad None
      assertThat(Grads.values(unused)).containsExactly(1f, 2f, 3f, 4f);
      double lr = r.learningRate(); // p (1 - lr wd) - lr sign(g), as in the first-step test
      float d = (float) (1 - lr * 0.1);
      float a = (float) lr;
      assertThat(Grads.values(p.get(W)))
          .containsExactly(new float[] {d - a, -2 * d + a, 0.5f * d - a, 3 * d}, within(1e-6f));
    }
    Map<String, NDArray> tied = params();
    tied.put("lm_head.weight", tied.get(EMBED));
    assertThatThrownBy(() -> new AdamW(config(0.1), tied, manager))
        .hasMessageContaining(EMBED)
        .hasMessageContaining("lm_head.weight");
  }

  @Test
  void exportedStateResumesExactly() {
    Map<String, NDArray> a = params();
    Map<String, NDArray> b = params();
    Map<String, NDArray> fresh = params();
    OptimizerConfig c = new OptimizerConfig(0.05, 0.1, 2, 10, 0.1, 0.9, 0.95, 1e-8, 0);
    try (AdamW first = new AdamW(c, a, manager);
        AdamW resumed = new AdamW(c, b, manager);
        AdamW cold = new AdamW(c, fresh, manager)) {
      for (int s = 0; s < 3; s++) {
        Grads.backward(manager, a, s % 2 == 0 ? grads1() : grads2());
        first.stepScheduled();
      }
      Map<String, NDArray> state = first.exportState();
      assertThat(state).containsKeys("exp_avg." + W, "exp_avg_sq." + W, "exp_avg." + NORM);
      assertThat(state).hasSize(8);
      // a checkpoint: copies of parameters and state, then a new optimiser
      Map<String, NDArray> saved = new LinkedHashMap<>();
      state.forEach((k, v) -> saved.put(k, v.duplicate()));
      for (String name : a.keySet()) {
        b.get(name).set(new NDIndex("..."), a.get(name));
        fresh.get(name).set(new NDIndex("..."), a.get(name));
      }
      resumed.importState(saved, first.step());
      assertThat(resumed.step()).isEqualTo(3);
      assertThat(resumed.nextLearningRate()).isEqualTo(first.nextLearningRate());

      Grads.backward(manager, a, grads2());
      Grads.backward(manager, b, grads2());
      Grads.backward(manager, fresh, grads2());
      first.stepScheduled();
      resumed.stepScheduled();
      cold.stepScheduled();
      for (String name : a.keySet()) {
        assertThat(Grads.values(b.get(name))).containsExactly(Grads.values(a.get(name)));
      }
      // without the state the step differs: the comparison above can fail
      assertThat(Grads.values(fresh.get(W))).isNotEqualTo(Grads.values(a.get(W)));
    }
  }

  @Test
  void importNamesTheBadTensor() {
    Map<String, NDArray> p = params();
    try (AdamW adam = new AdamW(config(0.1), p, manager)) {
      Map<String, NDArray> state = new LinkedHashMap<>(adam.exportState());
      state.remove("exp_avg_sq." + NORM);
      assertThatThrownBy(() -> adam.importState(state, 1))
          .hasMessageContaining("exp_avg_sq.model.norm.weight is missing");
      Map<String, NDArray> wrong = new LinkedHashMap<>(adam.exportState());
      wrong.put("exp_avg." + W, manager.zeros(new Shape(3)));
      assertThatThrownBy(() -> adam.importState(wrong, 1))
          .hasMessageContaining("exp_avg." + W)
          .hasMessageContaining("(2, 2)");
      Map<String, NDArray> extra = new LinkedHashMap<>(adam.exportState());
      extra.put("exp_avg.nope", manager.zeros(new Shape(1)));
      assertThatThrownBy(() -> adam.importState(extra, 1))
          .hasMessageContaining("exp_avg.nope matches no parameter");
    }
  }
}
