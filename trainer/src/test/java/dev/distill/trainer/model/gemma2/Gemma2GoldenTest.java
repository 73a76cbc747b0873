package dev.distill.trainer.model.gemma2;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.distill.trainer.safetensors.SafetensorsCheckpoint;
import dev.distill.trainer.safetensors.SafetensorsDtype;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.json.JsonMapper;

/**
 * Logits of a 2-layer, 32-wide Gemma 2 with fixed weights equal the values of an independent
 * plain-torch reference ({@code src/test/python/make_golden.py}), from the F32 and the BF16 file of
 * the same weights.
 */
class Gemma2GoldenTest {

  static final double TOLERANCE = 1e-4;

  static NDManager manager;
  static Map<String, Object> golden;

  @BeforeAll
  @SuppressWarnings("unchecked")
  static void setUp() throws Exception {
    manager = NDManager.newBaseManager();
    golden =
        JsonMapper.builder()
            .build()
            .readValue(Files.readAllBytes(goldenDir().resolve("gemma2-golden.json")), Map.class);
  }

  @AfterAll
  static void tearDown() {
    manager.close();
  }

  static Path goldenDir() throws Exception {
    return Path.of(Gemma2GoldenTest.class.getResource("/golden/gemma2-golden.json").toURI())
        .getParent();
  }

  @ParameterizedTest
  @ValueSource(strings = {"gemma2-golden-f32", "gemma2-golden-bf16"})
  @SuppressWarnings("unchecked")
  void logitsEqualTheIndependentReference(String dir) throws Exception {
    Path modelDir = goldenDir().resolve(dir);
    try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(modelDir)) {
      SafetensorsDtype stored = ckpt.info(Gemma2WeightNames.EMBED).dtype();
      assertThat(stored)
          .isEqualTo(dir.endsWith("bf16") ? SafetensorsDtype.BF16 : SafetensorsDtype.F32);
    }
    List<List<Number>> ids = (List<List<Number>>) golden.get("input_ids");
    List<List<Number>> mask = (List<List<Number>>) golden.get("attention_mask");
    List<List<List<Number>>> expected = (List<List<List<Number>>>) golden.get("logits");
    int b = ids.size();
    int t = ids.get(0).size();
    long[] idArr = new long[b * t];
    long[] maskArr = new long[b * t];
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < t; j++) {
        idArr[i * t + j] = ids.get(i).get(j).longValue();
        maskArr[i * t + j] = mask.get(i).get(j).longValue();
      }
    }
    try (NDManager m = manager.newSubManager();
        Gemma2Model model = Gemma2Model.load(modelDir, m)) {
      assertThat(model.config().slidingWindow()).isLessThan(t); // the window matters
      NDArray logits =
          model.forward(
              m.create(idArr, new Shape(b, t)), m.create(maskArr, new Shape(b, t))); // (B, T, V)
      int v = model.vocabSize();
      float[] actual = logits.toFloatArray();
      double maxDiff = 0;
      int compared = 0;
      for (int i = 0; i < b; i++) {
        List<List<Number>> rows = expected.get(i);
        for (int j = 0; j < rows.size(); j++) { // real positions come first (right padding)
          for (int k = 0; k < v; k++) {
            double diff = Math.abs(actual[(i * t + j) * v + k] - rows.get(j).get(k).doubleValue());
            maxDiff = Math.max(maxDiff, diff);
            compared++;
          }
        }
      }
      assertThat(compared).isEqualTo((10 + 5) * v);
      assertThat(maxDiff).as("max |java - torch| over %d logits", compared).isLessThan(TOLERANCE);
    }
  }
}
