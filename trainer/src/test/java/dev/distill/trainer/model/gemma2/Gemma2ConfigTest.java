package dev.distill.trainer.model.gemma2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Gemma2ConfigTest {

  /** The published sizes of gemma-2-2b, -9b and -27b. */
  @Test
  void realPresetsHaveThePublishedParameterCounts() {
    assertThat(Gemma2Config.preset("gemma2-2b").parameterCount()).isEqualTo(2_614_341_888L);
    assertThat(Gemma2Config.preset("gemma2-9b").parameterCount()).isEqualTo(9_241_705_984L);
    assertThat(Gemma2Config.preset("gemma2-27b").parameterCount()).isEqualTo(27_227_128_320L);
    assertThat(Gemma2Config.preset("gemma2-2b").parameterBytes("bfloat16"))
        .isEqualTo(2 * 2_614_341_888L);
    assertThat(Gemma2Config.preset("gemma2-27b").queryPreAttnScalar()).isEqualTo(144.0);
  }

  /** Every field of gemma2-2b, as google/gemma-2-2b's config.json states it. */
  @Test
  void theTwoBillionPresetIsThePublishedConfig() {
    Map<String, Object> published = new HashMap<>();
    published.put("vocab_size", 256000);
    published.put("hidden_size", 2304);
    published.put("intermediate_size", 9216);
    published.put("num_hidden_layers", 26);
    published.put("num_attention_heads", 8);
    published.put("num_key_value_heads", 4);
    published.put("head_dim", 256);
    published.put("max_position_embeddings", 8192);
    published.put("rms_norm_eps", 1e-6);
    published.put("rope_theta", 10000.0);
    published.put("attn_logit_softcapping", 50.0);
    published.put("final_logit_softcapping", 30.0);
    published.put("query_pre_attn_scalar", 256);
    published.put("sliding_window", 4096);
    published.put("hidden_activation", "gelu_pytorch_tanh");
    published.put("tie_word_embeddings", true);
    published.put("bos_token_id", 2);
    published.put("eos_token_id", 1);
    published.put("pad_token_id", 0);
    published.put("torch_dtype", "bfloat16");
    assertThat(Gemma2Config.preset("gemma2-2b")).isEqualTo(Gemma2Config.fromHf(published));
  }

  @Test
  void smallPresetsHaveTheirSizesAndAnOverridableVocabulary() {
    Gemma2Config teacher = Gemma2Config.preset("gemma2-demo-teacher");
    assertThat(teacher.numHiddenLayers()).isEqualTo(4);
    assertThat(teacher.hiddenSize()).isEqualTo(128);
    assertThat(teacher.numAttentionHeads()).isEqualTo(4);
    assertThat(teacher.numKeyValueHeads()).isEqualTo(2);
    assertThat(teacher.slidingWindow()).isEqualTo(64);
    Gemma2Config student =
        Gemma2Config.preset("gemma2-demo-student").withOverrides(Map.of("vocab_size", 260));
    assertThat(student.vocabSize()).isEqualTo(260);
    assertThat(student.hiddenSize()).isEqualTo(96);
    assertThat(student.groupSize()).isEqualTo(3);
    Gemma2Config tiny = Gemma2Config.preset("gemma2-tiny");
    assertThat(tiny.hiddenSize()).isEqualTo(64);
    assertThat(tiny.vocabSize()).isEqualTo(272); // the byte tokenizer: 16 specials + 256 bytes
    assertThat(tiny.bosTokenId()).isEqualTo(1);
    assertThat(tiny.eosTokenIds()).containsExactly(2);
    assertThat(tiny.padTokenId()).isEqualTo(0);
    assertThat(tiny.queryPreAttnScalar()).isEqualTo(16.0); // head_dim
    assertThat(tiny.maxPositionEmbeddings()).isEqualTo(2048);
    assertThat(tiny.torchDtype()).isEqualTo("float32");
    assertThatThrownBy(() -> Gemma2Config.preset("gemma3-1b")).hasMessageContaining("gemma3-1b");
  }

  @Test
  void readsAHuggingFaceConfigIgnoringUnknownKeys() {
    Map<String, Object> json = new HashMap<>(Gemma2Config.preset("gemma2-2b").toHf());
    json.put("transformers_version", "4.42.0");
    json.put("cache_implementation", "hybrid");
    json.put("eos_token_id", List.of(1, 107));
    json.remove("hidden_activation");
    json.put("hidden_act", "gelu_pytorch_tanh");
    Gemma2Config c = Gemma2Config.fromHf(json);
    assertThat(c.eosTokenIds()).containsExactly(1, 107);
    assertThat(c.hiddenSize()).isEqualTo(2304);
    assertThat(Gemma2Config.fromHf(c.toHf())).isEqualTo(c);
  }

  @Test
  void badValuesNameTheKeyAndTheValue() {
    Gemma2Config tiny = Gemma2Config.preset("gemma2-tiny");
    assertThatThrownBy(() -> tiny.withOverrides(Map.of("num_attention_heads", 5)))
        .hasMessageContaining("num_attention_heads=5")
        .hasMessageContaining("num_key_value_heads=2");
    assertThatThrownBy(() -> tiny.withOverrides(Map.of("hidden_activation", "relu")))
        .hasMessageContaining("hidden_activation=relu");
    assertThatThrownBy(() -> tiny.withOverrides(Map.of("hidden_size", 0)))
        .hasMessageContaining("hidden_size=0");
    assertThatThrownBy(() -> tiny.withOverrides(Map.of("rms_norm_eps", -1.0)))
        .hasMessageContaining("rms_norm_eps=-1.0");
    assertThatThrownBy(() -> tiny.withOverrides(Map.of("vocab_size", "big")))
        .hasMessageContaining("vocab_size=big is not an integer");
    assertThatThrownBy(() -> tiny.withOverrides(Map.of("tie_word_embeddings", false)))
        .hasMessageContaining("tie_word_embeddings=false");
    assertThatThrownBy(() -> tiny.withOverrides(Map.of("vocab_sise", 300)))
        .hasMessageContaining("vocab_sise");
    Map<String, Object> allGlobal = new HashMap<>(tiny.toHf());
    allGlobal.put("layer_types", List.of("full_attention", "full_attention"));
    assertThatThrownBy(() -> Gemma2Config.fromHf(allGlobal)).hasMessageContaining("layer_types=");
    assertThat(tiny.toHf().get("layer_types"))
        .isEqualTo(List.of("sliding_attention", "full_attention"));
    assertThatThrownBy(() -> tiny.withOverrides(Map.of("attention_bias", true)))
        .hasMessageContaining("attention_bias=true");
  }

  @Test
  void aBadValueInAFileNamesTheFileAndTheKey(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("config.json");
    Gemma2Config.preset("gemma2-tiny").write(file);
    Files.writeString(
        file,
        Files.readString(file)
            .replace("\"num_key_value_heads\" : 2", "\"num_key_value_heads\" : 3"));
    assertThatThrownBy(() -> Gemma2Config.read(file))
        .hasMessageContaining(file.toString())
        .hasMessageContaining("num_key_value_heads=3");
    Files.writeString(file, "{\"hidden_size\": 64,");
    assertThatThrownBy(() -> Gemma2Config.read(file))
        .hasMessageContaining(file.toString())
        .hasMessageContaining("JSON");
    Files.writeString(file, "{\"model_type\": \"llama\", \"hidden_size\": 64}");
    assertThatThrownBy(() -> Gemma2Config.read(file))
        .hasMessageContaining(file.toString())
        .hasMessageContaining("model_type=llama");
  }

  @Test
  void everyCatalogPresetBuildsAndEveryScalarConfigKeyIsACatalogKey() {
    for (String name : dev.distill.spec.Catalog.MODEL_PRESETS) {
      Gemma2Config c = Gemma2Config.preset(name);
      // the keys a spec may override are exactly the scalar keys of config.json
      java.util.Set<String> scalar = new java.util.TreeSet<>();
      c.toHf()
          .forEach(
              (k, v) -> {
                if (!(v instanceof List) && !k.equals("model_type")) {
                  scalar.add(k);
                }
              });
      assertThat(scalar)
          .as(name)
          .containsExactlyInAnyOrderElementsOf(dev.distill.spec.Catalog.CONFIG_KEYS);
      for (String key : dev.distill.spec.Catalog.CONFIG_KEYS) {
        Object value = c.toHf().get(key);
        if (value != null) {
          assertThat(c.withOverrides(Map.of(key, value))).as(name + " " + key).isEqualTo(c);
        }
      }
    }
    assertThat(Gemma2Config.PRESETS).isSameAs(dev.distill.spec.Catalog.MODEL_PRESETS);
  }
}
