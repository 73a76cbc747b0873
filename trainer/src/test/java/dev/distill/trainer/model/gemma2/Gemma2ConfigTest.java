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
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

class Gemma2ConfigTest {

  /** The published sizes of gemma-2-2b, -9b and -27b. */
  @Test
  void realPresetsHaveThePublishedParameterCounts() {
    assertThat(Gemma2Config.preset("gemma2-2b").parameterCount()).isEqualTo(2_614_341_888L);
    assertThat(Gemma2Config.preset("gemma2-9b").parameterCount()).isEqualTo(9_241_705_984L);
    assertThat(Gemma2Config.preset("gemma2-27b").parameterCount()).isEqualTo(27_227_128_320L);
    assertThat(Gemma2Config.preset("gemma2-2b").parameterBytes("bfloat16"))
        .isEqualTo(2 * 2_614_341_888L);
    assertThat(Gemma2Config.preset("gemma2-27b").queryPreAttnScalar()).isEqualTo(144);
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
    assertThat(tiny.queryPreAttnScalar()).isEqualTo(16); // head_dim
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
      // the keys a spec may override are exactly the scalar keys of config.json (less those
      // written from other keys)
      java.util.Set<String> scalar = new java.util.TreeSet<>();
      c.toHf()
          .forEach(
              (k, v) -> {
                if (!(v instanceof List)
                    && !k.equals("model_type")
                    && !Gemma2Config.DERIVED.contains(k)) {
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

  /**
   * The field types of transformers 5.17's {@code Gemma2Config} (a strict dataclass: an int field
   * refuses 32.0, a float field refuses 50), key by key.
   */
  private static final Map<String, String> HF_TYPES =
      Map.ofEntries(
          Map.entry("vocab_size", "int"),
          Map.entry("hidden_size", "int"),
          Map.entry("intermediate_size", "int"),
          Map.entry("num_hidden_layers", "int"),
          Map.entry("num_attention_heads", "int"),
          Map.entry("num_key_value_heads", "int"),
          Map.entry("head_dim", "int"),
          Map.entry("max_position_embeddings", "int"),
          Map.entry("query_pre_attn_scalar", "int"),
          Map.entry("sliding_window", "int"),
          Map.entry("bos_token_id", "int|null"),
          Map.entry("pad_token_id", "int|null"),
          Map.entry("eos_token_id", "int|list|null"),
          Map.entry("rms_norm_eps", "float"),
          Map.entry("rope_theta", "float"),
          Map.entry("attn_logit_softcapping", "float|null"),
          Map.entry("final_logit_softcapping", "float|null"),
          Map.entry("attention_dropout", "float"),
          Map.entry("tie_word_embeddings", "bool"),
          Map.entry("attention_bias", "bool"),
          Map.entry("hidden_activation", "str"),
          Map.entry("layer_types", "list"),
          Map.entry("rope_parameters", "object"));

  @Test
  void writtenConfigHasHuggingFacesTypesKeyByKey(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("config.json");
    Gemma2Config config =
        Gemma2Config.preset("gemma2-tiny")
            .withOverrides(
                Map.of(
                    "query_pre_attn_scalar",
                    32.0,
                    "attn_logit_softcapping",
                    50,
                    "rms_norm_eps",
                    1e-5,
                    "eos_token_id",
                    2));
    config.write(file);
    JsonNode json = JsonMapper.builder().build().readTree(file.toFile());
    HF_TYPES.forEach(
        (key, type) -> {
          JsonNode v = json.get(key);
          assertThat(v).as(key).isNotNull();
          String actual =
              v.isNull()
                  ? "null"
                  : v.isIntegralNumber()
                      ? "int"
                      : v.isFloatingPointNumber()
                          ? "float"
                          : v.isBoolean()
                              ? "bool"
                              : v.isString() ? "str" : v.isArray() ? "list" : "object";
          assertThat(List.of(type.split("\\|"))).as("%s=%s", key, v).contains(actual);
        });
    assertThat(json.get("query_pre_attn_scalar").asInt()).isEqualTo(32);
    assertThat(json.get("rope_parameters").get("rope_theta").isFloatingPointNumber()).isTrue();
    assertThat(json.get("rope_parameters").get("rope_type").asString()).isEqualTo("default");
    assertThat(Gemma2Config.read(file)).isEqualTo(config);
    assertThatThrownBy(() -> config.withOverrides(Map.of("query_pre_attn_scalar", 32.5)))
        .hasMessageContaining("query_pre_attn_scalar=32.5 is not an integer");
  }

  @Test
  void readsRopeThetaAndDtypeWhereTransformers5WritesThem() {
    Map<String, Object> json = new HashMap<>(Gemma2Config.preset("gemma2-tiny").toHf());
    json.remove("rope_theta");
    json.remove("torch_dtype");
    json.put("rope_parameters", Map.of("rope_type", "default", "rope_theta", 500.0));
    json.put("dtype", "bfloat16");
    Gemma2Config c = Gemma2Config.fromHf(json);
    assertThat(c.ropeTheta()).isEqualTo(500.0);
    assertThat(c.torchDtype()).isEqualTo("bfloat16");
    assertThat(c.withOverrides(Map.of("rope_theta", 100.0)).ropeTheta()).isEqualTo(100.0);
    json.put("rope_parameters", Map.of("rope_type", "yarn", "rope_theta", 500.0));
    assertThatThrownBy(() -> Gemma2Config.fromHf(json))
        .hasMessageContaining("rope_parameters.rope_type=yarn");
  }
}
