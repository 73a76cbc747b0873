package dev.distill.trainer.model.gemma2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.distill.spec.Catalog;
import dev.distill.spec.LoraSpec;
import dev.distill.trainer.model.NoGrad;
import dev.distill.trainer.model.gemma2.Gemma2WeightNames.Layer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The adapter on its own: names as PEFT's, PEFT's initialisation (a fresh adapter changes nothing),
 * the update {@code (alpha / r) B A x} against a hand-made one, merging equal to not merging, and a
 * refused PEFT variant named by its key.
 */
class Gemma2LoraTest {

  private static final Gemma2Config TINY = Gemma2Config.preset("gemma2-tiny");
  private static final long[] IDS = {2, 17, 45, 99, 3, 250, 7};

  @TempDir Path tmp;

  @Test
  void theProjectionsAreTheCatalogsTargetModulesWithPeftsNames() {
    assertThat(Arrays.stream(Layer.values()).map(Layer::module).filter(m -> m != null).toList())
        .isEqualTo(Catalog.LORA_TARGET_MODULES);
    assertThat(Layer.Q_PROJ.lora(3, false))
        .isEqualTo("base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight");
    assertThat(Layer.DOWN_PROJ.lora(0, true))
        .isEqualTo("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight");
  }

  @Test
  void aFreshAdapterChangesNothingAndATrainedOneAddsItsScaledProduct() {
    LoraSpec spec = new LoraSpec(2, 6.0, 0.0, List.of("v_proj"));
    try (NDManager m = NDManager.newBaseManager();
        NoGrad ignored = NoGrad.enter();
        Gemma2Model model = Gemma2Model.init(TINY, m, 1)) {
      NDArray ids = m.create(IDS, new Shape(1, IDS.length));
      float[] base = model.forward(ids, null).toFloatArray();
      Gemma2Lora lora = Gemma2Lora.init(TINY, spec, "base", m, 7);
      NDArray a = lora.parameters().get(Layer.V_PROJ.lora(0, false)); // (2, 64)
      float bound = (float) (1 / Math.sqrt(64));
      assertThat(a.getShape()).isEqualTo(new Shape(2, 64));
      assertThat(a.abs().max().getFloat()).isLessThanOrEqualTo(bound).isGreaterThan(bound / 2);
      assertThat(lora.parameters().get(Layer.V_PROJ.lora(0, true)).getShape())
          .isEqualTo(new Shape(32, 2));
      model.attach(lora);
      assertThat(model.forward(ids, null).toFloatArray()).containsExactly(base);

      // a hand-made update: B = 1, so W_v + 3 * 1 A must give the same logits as the adapter
      NDArray one = m.full(new Shape(), 1f);
      for (int layer = 0; layer < 2; layer++) {
        lora.parameters().get(Layer.V_PROJ.lora(layer, true)).addi(one);
      }
      float[] adapted = model.forward(ids, null).toFloatArray();
      try (Gemma2Model byHand = Gemma2Model.init(TINY, m, 1)) {
        for (int layer = 0; layer < 2; layer++) {
          NDArray w = byHand.baseParameters().get(Layer.V_PROJ.of(layer)); // (32, 64)
          NDArray aL = lora.parameters().get(Layer.V_PROJ.lora(layer, false)); // (2, 64)
          w.addi(m.ones(new Shape(32, 2)).matMul(aL).mul(m.full(new Shape(), 3f)));
        }
        assertClose(byHand.forward(ids, null).toFloatArray(), adapted, 1e-5);
      }
      assertThat(maxDiff(adapted, base)).isGreaterThan(1e-3);

      model.mergeAdapters();
      assertThat(model.adapters()).isNull();
      assertThat(model.parameters()).isSameAs(model.baseParameters());
      assertClose(model.forward(ids, null).toFloatArray(), adapted, 1e-5);
    }
  }

  @Test
  void aPeftVariantThisCodeDoesNotComputeIsRefusedByName() throws Exception {
    try (NDManager m = NDManager.newBaseManager()) {
      Gemma2Lora lora = Gemma2Lora.init(TINY, LoraSpec.defaults(), "base", m, 7);
      lora.save(tmp);
      Path config = tmp.resolve(Gemma2Lora.CONFIG_FILE);
      Files.writeString(
          config, Files.readString(config).replace("\"use_dora\" : false", "\"use_dora\" : true"));
      assertThatThrownBy(() -> Gemma2Lora.load(tmp, TINY, m))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage(config + ": use_dora must be false, was true");
    }
  }

  private static double maxDiff(float[] a, float[] b) {
    double max = 0;
    for (int i = 0; i < a.length; i++) {
      max = Math.max(max, Math.abs(a[i] - b[i]));
    }
    return max;
  }

  private static void assertClose(float[] got, float[] want, double tol) {
    assertThat(got).hasSameSizeAs(want);
    assertThat(maxDiff(got, want)).isLessThan(tol);
  }
}
