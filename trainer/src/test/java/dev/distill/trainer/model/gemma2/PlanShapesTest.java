package dev.distill.trainer.model.gemma2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.spec.Catalog;
import dev.distill.spec.plan.ModelShape;
import dev.distill.trainer.tokenize.ByteTokenizer;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The memory plan's shapes ({@code dev.distill.spec.plan}) and the trainer's configs cannot drift:
 * every preset, with and without overrides, and the byte tokenizer's vocabulary.
 */
class PlanShapesTest {

  @Test
  void everyPresetHasThePlansShape() {
    for (String name : Catalog.MODEL_PRESETS) {
      Gemma2Config c = Gemma2Config.preset(name);
      assertThat(c.shape()).as(name).isEqualTo(ModelShape.preset(name));
      assertThat(c.parameterCount()).as(name).isEqualTo(ModelShape.preset(name).parameterCount());
    }
  }

  @Test
  void overridesChangeBothAlike() {
    Map<String, Object> o =
        Map.of(
            "vocab_size", 300,
            "hidden_size", 48,
            "num_hidden_layers", 3,
            "num_attention_heads", 6,
            "num_key_value_heads", 2,
            "head_dim", 8,
            "intermediate_size", 100,
            "query_pre_attn_scalar", 8);
    assertThat(Gemma2Config.preset("gemma2-tiny").withOverrides(o).shape())
        .isEqualTo(ModelShape.preset("gemma2-tiny").withOverrides(o));
    Map<String, Object> noCap = new java.util.HashMap<>();
    noCap.put("attn_logit_softcapping", null);
    assertThat(Gemma2Config.preset("gemma2-2b").withOverrides(noCap).shape())
        .isEqualTo(ModelShape.preset("gemma2-2b").withOverrides(noCap));
  }

  @Test
  void theByteVocabularyIsTheByteTokenizers() {
    assertThat(ByteTokenizer.instance().vocabSize()).isEqualTo(ModelShape.BYTE_VOCAB);
  }
}
