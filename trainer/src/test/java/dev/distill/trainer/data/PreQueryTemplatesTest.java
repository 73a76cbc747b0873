package dev.distill.trainer.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/** Our pre-query templates against Magpie's own configs (shared/datasets). */
class PreQueryTemplatesTest {

  private static final ObjectMapper JSON = JsonMapper.builder().build();

  private static JsonNode magpie(String model) throws Exception {
    JsonNode all = JSON.readTree(SharedDatasets.file("magpie-pre-query-templates.json").toFile());
    JsonNode entry = all.get(model);
    assertThat(entry).as("Magpie entry of %s", model).isNotNull();
    return entry;
  }

  private static List<String> stopTokens(JsonNode entry) {
    List<String> out = new ArrayList<>();
    entry.get("stop_tokens").forEach(n -> out.add(n.asString()));
    return out;
  }

  @Test
  void everySupportedFamilyMatchesMagpie() throws Exception {
    // name, tokenizer BOS, Magpie model whose entry must match exactly
    String[][] cases = {
      {"llama3", "<|begin_of_text|>", "meta-llama/Meta-Llama-3-8B-Instruct"},
      {"llama3", "<|begin_of_text|>", "meta-llama/Meta-Llama-3.1-8B-Instruct"},
      {"chatml", "<bos>", "Qwen/Qwen2-7B-Instruct"},
      {"qwen2", "", "Qwen/Qwen2-72B-Instruct"},
      {"phi3", "<|endoftext|>", "microsoft/Phi-3-small-128k-instruct"},
      {"gemma", "<bos>", "google/gemma-1.1-7b-it"},
      {"gemma2", "<bos>", "google/gemma-1.1-7b-it"},
    };
    for (String[] c : cases) {
      JsonNode entry = magpie(c[2]);
      assertThat(PreQueryTemplates.text(c[0], c[1]))
          .as("%s vs %s", c[0], c[2])
          .isEqualTo(entry.get("pre_query_template").asString());
      // the end-of-turn marker the recipe stops at is one of Magpie's stop tokens
      String endOfTurn = PreQueryTemplates.of(c[0], null).stopStrings("").get(0);
      assertThat(stopTokens(entry)).as("stop tokens of %s", c[2]).contains(endOfTurn);
    }
  }

  @Test
  void gemma2DiffersFromMagpieOnlyByItsStrayNewline() throws Exception {
    // Magpie's gemma-2 entries end "user\n\n"; the official gemma-2 chat template writes "user\n"
    for (String model : List.of("google/gemma-2-2b-it", "google/gemma-2-9b-it")) {
      assertThat(PreQueryTemplates.text("gemma2", "<bos>") + "\n")
          .isEqualTo(magpie(model).get("pre_query_template").asString());
    }
  }

  @Test
  void namesMapToOurPromptTemplates() {
    assertThat(PreQueryTemplates.of("gemma2", null)).isEqualTo(PromptTemplate.GEMMA);
    assertThat(PreQueryTemplates.of("LLAMA3", null)).isEqualTo(PromptTemplate.LLAMA3);
    assertThat(PreQueryTemplates.of(null, PromptTemplate.PHI3)).isEqualTo(PromptTemplate.PHI3);
    assertThat(PreQueryTemplates.names()).contains("gemma2", "llama3", "phi3", "chatml");
  }

  @Test
  void unknownNameAndAlpacaAreRefusedNamingTheField() {
    assertThatThrownBy(() -> PreQueryTemplates.of("vicuna", PromptTemplate.GEMMA))
        .hasMessageContaining("generation.pre_query_template")
        .hasMessageContaining("'vicuna'");
    assertThatThrownBy(() -> PreQueryTemplates.of(null, PromptTemplate.ALPACA))
        .hasMessageContaining("generation.pre_query_template")
        .hasMessageContaining("alpaca");
  }
}
