package dev.distill.trainer.model.gemma2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.distill.trainer.model.KvCache;
import dev.distill.trainer.model.NoGrad;
import dev.distill.trainer.safetensors.SafetensorsDtype;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Gemma2ModelTest {

  static NDManager manager;

  /**
   * A small model whose weights are large enough that every position visibly depends on what it
   * sees.
   */
  static Gemma2Config config(int layers, int window) {
    return Gemma2Config.preset("gemma2-tiny")
        .withOverrides(
            Map.of(
                "vocab_size",
                50,
                "hidden_size",
                32,
                "num_hidden_layers",
                layers,
                "sliding_window",
                window,
                "head_dim",
                8,
                "query_pre_attn_scalar",
                8,
                "intermediate_size",
                64));
  }

  @BeforeAll
  static void setUp() {
    manager = NDManager.newBaseManager();
  }

  @AfterAll
  static void tearDown() {
    manager.close();
  }

  private static NDArray ids(NDManager m, long... ids) {
    return m.create(ids, new Shape(1, ids.length));
  }

  /**
   * d/dx of sum(g * rmsNorm(x, w)) against the formula in doubles: r (1 + w_i) g_i - x_i r^3 / D
   * sum_j g_j (1 + w_j) x_j with r = (mean(x^2) + eps)^-1/2, and at x = 0 (a padding row) r (1 +
   * w_i) g_i, finite.
   */
  @Test
  void rmsNormGradientMatchesHandComputedValuesIncludingAZeroRow() {
    float[][] rows = {{1f, -2f, 0.5f, 3f}, {0f, 0f, 0f, 0f}};
    float[] w = {0f, 0.5f, -0.25f, 1f};
    float[] g = {0.3f, -1f, 2f, 0.7f};
    double eps = 1e-6;
    try (NDManager m = manager.newSubManager();
        Gemma2Model model = Gemma2Model.init(config(1, 3), m, 1);
        GradientCollector collector = ai.djl.engine.Engine.getInstance().newGradientCollector()) {
      NDArray x = m.create(new float[] {1f, -2f, 0.5f, 3f, 0f, 0f, 0f, 0f}, new Shape(2, 4));
      x.setRequiresGradient(true);
      NDArray y = model.rmsNorm(x, m.create(w)); // (2, 4)
      collector.backward(y.mul(m.create(g)).sum());
      float[] dx;
      try (NDArray grad = x.getGradient()) {
        dx = grad.toFloatArray();
      }
      for (int row = 0; row < 2; row++) {
        float[] xs = rows[row];
        double ms = 0;
        double dot = 0;
        for (int j = 0; j < 4; j++) {
          ms += xs[j] * xs[j] / 4.0;
          dot += g[j] * (1 + w[j]) * xs[j];
        }
        double r = 1 / Math.sqrt(ms + eps);
        for (int i = 0; i < 4; i++) {
          double expected = r * (1 + w[i]) * g[i] - xs[i] * r * r * r / 4 * dot;
          assertThat((double) dx[row * 4 + i])
              .as("d/dx[%d][%d]", row, i)
              .isCloseTo(
                  expected,
                  org.assertj.core.data.Offset.offset(1e-5 * Math.max(1, Math.abs(expected))));
        }
      }
    }
  }

  @Test
  void geluTanhAndRmsNormMatchHandComputedValues() {
    try (NDManager m = manager.newSubManager();
        Gemma2Model model = Gemma2Model.init(config(1, 3), m, 1)) {
      float[] xs = {-3f, -1f, -0.1f, 0f, 0.5f, 2f, 5f};
      float[] gelu = model.geluTanh(m.create(xs)).toFloatArray();
      for (int i = 0; i < xs.length; i++) {
        double x = xs[i];
        double expected =
            0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
        assertThat((double) gelu[i])
            .as("gelu(%s)", x)
            .isCloseTo(expected, org.assertj.core.data.Offset.offset(1e-6));
      }
      // x = (1, 2, 3, 4): mean(x^2) = 7.5; w = (0, 0.5, -1, 1) -> x / sqrt(7.5 + 1e-6) * (1 + w)
      float[] norm =
          model
              .rmsNorm(m.create(new float[] {1, 2, 3, 4}), m.create(new float[] {0, 0.5f, -1, 1}))
              .toFloatArray();
      double rms = Math.sqrt(7.5 + 1e-6);
      assertThat(norm[0]).isCloseTo((float) (1 / rms), org.assertj.core.data.Offset.offset(1e-6f));
      assertThat(norm[1])
          .isCloseTo((float) (2 / rms * 1.5), org.assertj.core.data.Offset.offset(1e-6f));
      assertThat(norm[2]).isEqualTo(0f);
      assertThat(norm[3])
          .isCloseTo((float) (4 / rms * 2), org.assertj.core.data.Offset.offset(1e-6f));
    }
  }

  @Test
  void slidingMaskShowsKeyJToQueryIOnlyWhenIMinusWindowIsBelowJAndJAtMostI() {
    try (NDManager m = manager.newSubManager();
        Gemma2Model model = Gemma2Model.init(config(2, 3), m, 1)) {
      float[] mask = model.causalMask(0, 6, 6, 3).toFloatArray(); // (6, 6)
      float[] global = model.causalMask(0, 6, 6, 0).toFloatArray();
      for (int i = 0; i < 6; i++) {
        for (int j = 0; j < 6; j++) {
          assertThat(mask[i * 6 + j] == 0f)
              .as("sliding i=%d j=%d", i, j)
              .isEqualTo(i - 3 < j && j <= i);
          assertThat(global[i * 6 + j] == 0f).as("global i=%d j=%d", i, j).isEqualTo(j <= i);
          assertThat(mask[i * 6 + j]).isIn(0f, -1e9f);
        }
      }
      // with a cache: queries 4..5 over keys 0..5 are the last rows of the same mask
      float[] offset = model.causalMask(4, 2, 6, 3).toFloatArray(); // (2, 6)
      for (int k = 0; k < 12; k++) {
        assertThat(offset[k]).isEqualTo(mask[24 + k]);
      }
    }
  }

  @Test
  void aSlidingLayerSeesExactlyTheWindow() {
    // One layer (layer 0 slides): changing token j changes the logits of positions i with i - 3 < j
    // <= i only.
    try (NDManager m = manager.newSubManager();
        Gemma2Model model = Gemma2Model.init(config(1, 3), m, 7)) {
      scaleUp(model, m);
      float[] a = model.forward(ids(m, 3, 9, 14, 22, 5, 41, 8, 30), null).toFloatArray();
      float[] b = model.forward(ids(m, 3, 9, 27, 22, 5, 41, 8, 30), null).toFloatArray();
      int v = model.vocabSize();
      for (int i = 0; i < 8; i++) {
        double diff = 0;
        for (int k = 0; k < v; k++) {
          diff = Math.max(diff, Math.abs(a[i * v + k] - b[i * v + k]));
        }
        boolean sees = i - 3 < 2 && 2 <= i;
        if (sees) {
          assertThat(diff).as("position %d sees position 2", i).isGreaterThan(1e-4);
        } else {
          assertThat(diff).as("position %d does not see position 2", i).isLessThan(1e-6);
        }
      }
    }
  }

  @Test
  void aGlobalLayerSeesEverythingBefore() {
    // Two layers: layer 1 is global, so position 7 sees position 0 although the window is 2.
    try (NDManager m = manager.newSubManager();
        Gemma2Model model = Gemma2Model.init(config(2, 2), m, 7)) {
      scaleUp(model, m);
      float[] a = model.forward(ids(m, 3, 9, 14, 22, 5, 41, 8, 30), null).toFloatArray();
      float[] b = model.forward(ids(m, 4, 9, 14, 22, 5, 41, 8, 30), null).toFloatArray();
      int v = model.vocabSize();
      double diff = 0;
      for (int k = 0; k < v; k++) {
        diff = Math.max(diff, Math.abs(a[7 * v + k] - b[7 * v + k]));
      }
      assertThat(diff).isGreaterThan(1e-4);
    }
  }

  @Test
  void rightPaddingDoesNotChangeTheLogitsOfRealPositions() {
    try (NDManager m = manager.newSubManager();
        Gemma2Model model = Gemma2Model.init(config(2, 3), m, 3)) {
      scaleUp(model, m);
      float[] alone = model.forward(ids(m, 2, 11, 12, 13, 14), null).toFloatArray(); // (1, 5, V)
      NDArray batch =
          m.create(
              new long[] {2, 11, 12, 13, 14, 0, 0, 0, 5, 6, 7, 8, 9, 10, 11, 12}, new Shape(2, 8));
      NDArray mask =
          m.create(new long[] {1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, new Shape(2, 8));
      float[] padded = model.forward(batch, mask).toFloatArray(); // (2, 8, V)
      int v = model.vocabSize();
      for (int k = 0; k < 5 * v; k++) {
        assertThat(padded[k]).isCloseTo(alone[k], org.assertj.core.data.Offset.offset(1e-5f));
      }
    }
  }

  @Test
  void packedDocumentsSeeOnlyThemselves() {
    // mask numbers the documents of a row: (1, 1, 1, 2, 2, 2, 2, 0) packs [2 11 12] and [5 6 7 8]
    try (NDManager m = manager.newSubManager();
        Gemma2Model model = Gemma2Model.init(config(2, 3), m, 17)) {
      scaleUp(model, m);
      int v = model.vocabSize();
      float[] first = model.forward(ids(m, 2, 11, 12), null).toFloatArray(); // (1, 3, V)
      float[] second = model.forward(ids(m, 5, 6, 7, 8), null).toFloatArray(); // (1, 4, V)
      NDArray row = ids(m, 2, 11, 12, 5, 6, 7, 8, 0);
      NDArray docs = m.create(new long[] {1, 1, 1, 2, 2, 2, 2, 0}, new Shape(1, 8));
      float[] packed = model.forward(row, docs).toFloatArray(); // (1, 8, V)
      for (int k = 0; k < 3 * v; k++) {
        assertThat(packed[k]).isCloseTo(first[k], org.assertj.core.data.Offset.offset(1e-4f));
      }
      double maxDiff = 0;
      for (int k = 0; k < 4 * v; k++) { // RoPE is relative: positions 3..6 score as 0..3 did
        maxDiff = Math.max(maxDiff, Math.abs(packed[3 * v + k] - second[k]));
      }
      assertThat(maxDiff).isLessThan(1e-4);
      // without the document numbers the second document would see the first
      float[] unpacked =
          model
              .forward(row, m.create(new long[] {1, 1, 1, 1, 1, 1, 1, 0}, new Shape(1, 8)))
              .toFloatArray();
      double leak = 0;
      for (int k = 0; k < 4 * v; k++) {
        leak = Math.max(leak, Math.abs(unpacked[3 * v + k] - second[k]));
      }
      assertThat(leak).isGreaterThan(1e-3);
    }
  }

  @Test
  void kvCachedForwardEqualsTheFullForward() {
    try (NDManager m = manager.newSubManager();
        Gemma2Model model = Gemma2Model.init(config(3, 3), m, 11)) {
      scaleUp(model, m);
      long[] seq = {2, 17, 45, 9, 33, 40, 5, 12};
      float[] full = model.forward(ids(m, seq), null).toFloatArray(); // (1, 8, V)
      int v = model.vocabSize();
      try (KvCache cache = model.newCache()) {
        float[] first =
            model
                .forwardCached(ids(m, 2, 17, 45), cache)
                .toFloatArray(); // (1, 3, V) prompt at once
        for (int k = 0; k < 3 * v; k++) {
          assertThat(first[k]).isCloseTo(full[k], org.assertj.core.data.Offset.offset(1e-5f));
        }
        for (int p = 3; p < seq.length; p++) {
          float[] step = model.forwardCached(ids(m, seq[p]), cache).toFloatArray(); // (1, 1, V)
          for (int k = 0; k < v; k++) {
            assertThat(step[k])
                .as("position %d", p)
                .isCloseTo(full[p * v + k], org.assertj.core.data.Offset.offset(1e-5f));
          }
        }
        assertThat(cache.length()).isEqualTo(seq.length);
      }
    }
  }

  @Test
  void manyDifferentLengthsDoNotBreakTheBoundedMaskCache() {
    try (NDManager m = manager.newSubManager();
        Gemma2Model model = Gemma2Model.init(config(2, 3), m, 13)) {
      scaleUp(model, m);
      float[] first = model.forward(ids(m, 5, 6, 7), null).toFloatArray();
      for (int t = 1; t <= 40; t++) { // more lengths than the cache holds: early masks are evicted
        model.forward(
            m.arange(1, t + 1).toType(ai.djl.ndarray.types.DataType.INT64, false).reshape(1, t),
            null);
      }
      assertThat(model.forward(ids(m, 5, 6, 7), null).toFloatArray()).containsExactly(first);
    }
  }

  @Test
  void saveThenLoadGivesTheSameLogitsAndAValidHuggingFaceDirectory(@TempDir Path dir)
      throws Exception {
    try (NDManager m = manager.newSubManager();
        Gemma2Model model = Gemma2Model.init(config(2, 3), m, 5)) {
      scaleUp(model, m);
      float[] before = model.forward(ids(m, 1, 2, 3, 4, 5), null).toFloatArray();
      model.save(dir);
      assertThat(Files.readString(dir.resolve("config.json")))
          .contains("\"architectures\" : [ \"Gemma2ForCausalLM\" ]")
          .contains("\"model_type\" : \"gemma2\"");
      assertThat(dir.resolve("model.safetensors")).exists();
      try (Gemma2Model loaded = Gemma2Model.load(dir, m)) {
        assertThat(loaded.config())
            .isEqualTo(model.config().withOverrides(Map.of("torch_dtype", "float32")));
        assertThat(loaded.forward(ids(m, 1, 2, 3, 4, 5), null).toFloatArray())
            .containsExactly(before);
      }
      // bf16 and sharded: the logits move by bf16 rounding only
      model.save(dir, SafetensorsDtype.BF16, 20_000);
      assertThat(dir.resolve("model.safetensors")).doesNotExist();
      assertThat(dir.resolve("model.safetensors.index.json")).exists();
      try (Gemma2Model loaded = Gemma2Model.load(dir, m)) {
        assertThat(loaded.config().torchDtype()).isEqualTo("bfloat16");
        float[] after = loaded.forward(ids(m, 1, 2, 3, 4, 5), null).toFloatArray();
        for (int k = 0; k < before.length; k++) {
          assertThat(after[k]).isCloseTo(before[k], org.assertj.core.data.Offset.offset(0.1f));
        }
      }
    }
  }

  @Test
  void initIsDeterministicInTheSeedWithZeroNormsAndAZeroPaddingRow() {
    try (NDManager m = manager.newSubManager();
        Gemma2Model a = Gemma2Model.init(config(2, 3), m, 42);
        Gemma2Model b = Gemma2Model.init(config(2, 3), m, 42);
        Gemma2Model c = Gemma2Model.init(config(2, 3), m, 43)) {
      String q = Gemma2WeightNames.Layer.Q_PROJ.of(1);
      assertThat(a.parameters().get(q).toFloatArray())
          .containsExactly(b.parameters().get(q).toFloatArray());
      assertThat(a.parameters().get(q).toFloatArray())
          .isNotEqualTo(c.parameters().get(q).toFloatArray());
      float[] w = a.parameters().get(q).toFloatArray();
      double sq = 0;
      for (float x : w) {
        sq += x * x;
      }
      assertThat(Math.sqrt(sq / w.length)).isBetween(0.017, 0.023); // std 0.02
      assertThat(a.parameters().get(Gemma2WeightNames.FINAL_NORM).toFloatArray()).containsOnly(0f);
      assertThat(a.parameters().get(Gemma2WeightNames.EMBED).get(0).toFloatArray())
          .containsOnly(0f); // pad id 0
      assertThat(a.parameters().keySet())
          .containsExactlyElementsOf(Gemma2WeightNames.shapes(a.config()).keySet());
    }
  }

  @Test
  void gradientsReachEveryParameter() {
    try (NDManager m = manager.newSubManager();
        Gemma2Model model = Gemma2Model.init(config(2, 3), m, 9)) {
      try (GradientCollector gc = manager.getEngine().newGradientCollector()) {
        NDArray logits = model.forward(ids(m, 3, 4, 5, 6, 7, 8), null);
        gc.backward(logits.logSoftmax(-1).get(new NDIndex("..., 3")).sum());
      }
      for (var e : model.parameters().entrySet()) {
        try (NDArray g = e.getValue().getGradient()) {
          assertThat(g.abs().sum().getFloat()).as(e.getKey()).isGreaterThan(0f);
        }
      }
    }
  }

  @Test
  void loadNamesTheFileAndTensorThatIsMissingOrMisshapen(@TempDir Path dir) throws Exception {
    try (NDManager m = manager.newSubManager();
        Gemma2Model model = Gemma2Model.init(config(2, 3), m, 5)) {
      model.save(dir);
      // a config that wants a wider MLP than the file holds
      Gemma2Config wider = model.config().withOverrides(Map.of("intermediate_size", 65));
      wider.write(dir.resolve("config.json"));
      assertThatThrownBy(() -> Gemma2Model.load(dir, m))
          .hasMessageContaining(dir.resolve("model.safetensors").toString())
          .hasMessageContaining("model.layers.0.mlp.gate_proj.weight")
          .hasMessageContaining("(64, 32)")
          .hasMessageContaining("expected (65, 32)");
      // a config with more layers than the file holds
      model
          .config()
          .withOverrides(Map.of("num_hidden_layers", 3))
          .write(dir.resolve("config.json"));
      assertThatThrownBy(() -> Gemma2Model.load(dir, m))
          .hasMessageContaining(dir.resolve("model.safetensors").toString())
          .hasMessageContaining("missing tensor 'model.layers.2.input_layernorm.weight'");
    }
  }

  /** Scales the random weights up (std 0.02 barely moves anything) and the norms away from zero. */
  static void scaleUp(Gemma2Model model, NDManager m) {
    NDArray factor = m.full(new Shape(), 15f);
    NDArray normShift = m.full(new Shape(), 0.3f);
    // In place on leaves that require a gradient: only legal with grad mode off, which is not the
    // default on a thread other than the one that first loaded the engine (see NoGrad).
    try (NoGrad ignored = NoGrad.enter()) {
      for (var e : model.parameters().entrySet()) {
        if (Gemma2WeightNames.isNorm(e.getKey())) {
          e.getValue().addi(normShift);
        } else {
          e.getValue().muli(factor);
        }
      }
    }
  }
}
