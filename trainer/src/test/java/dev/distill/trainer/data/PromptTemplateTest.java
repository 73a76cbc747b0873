package dev.distill.trainer.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.InputStream;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Compares the renderings with {@code official_templates.json}: the official Jinja chat templates
 * rendered by jinja2 ({@code official_templates.py} beside it).
 */
class PromptTemplateTest {

  private static final JsonMapper JSON = JsonMapper.builder().build();

  static final Example.Chat CONVERSATION =
      new Example.Chat(
          List.of(
              Message.user("  What is 2+3?\n"),
              Message.assistant("5"),
              Message.user("And 4*4?"),
              Message.assistant("16 \n")),
          "");

  private static JsonNode golden() throws Exception {
    try (InputStream in =
        PromptTemplateTest.class.getResourceAsStream("/data/official_templates.json")) {
      return JSON.readTree(in);
    }
  }

  private static String join(List<Segment> segments) {
    StringBuilder sb = new StringBuilder();
    segments.forEach(s -> sb.append(s.text()));
    return sb.toString();
  }

  private static String responses(List<Segment> segments) {
    StringBuilder sb = new StringBuilder();
    segments.stream().filter(Segment::response).forEach(s -> sb.append(s.text()).append('|'));
    return sb.toString();
  }

  @ParameterizedTest
  @ValueSource(strings = {"gemma", "llama3", "phi3", "chatml"})
  void chatTemplatesRenderAsTheOfficialTemplates(String name) throws Exception {
    JsonNode g = golden().get(name);
    PromptTemplate t = PromptTemplate.of(name);
    String bos = g.get("bos").asString();
    String eos = g.get("eos").asString();
    assertThat(join(t.render(CONVERSATION, bos, eos))).isEqualTo(g.get("full").asString());
    Example.Chat upToQuestion = new Example.Chat(CONVERSATION.messages().subList(0, 3), "");
    assertThat(t.generationPrompt(upToQuestion, bos)).isEqualTo(g.get("generation").asString());
  }

  @Test
  void responseSegmentsAreTheAnswersWithTheirEndMarker() {
    assertThat(responses(PromptTemplate.GEMMA.render(CONVERSATION, "<bos>", "<eos>")))
        .isEqualTo("5<end_of_turn>|16<end_of_turn>|");
    assertThat(responses(PromptTemplate.LLAMA3.render(CONVERSATION, "<bos>", "<eos>")))
        .isEqualTo("5<|eot_id|>|16<|eot_id|>|");
    assertThat(responses(PromptTemplate.PHI3.render(CONVERSATION, "<bos>", "<eos>")))
        .isEqualTo("5<|end|>|16 \n<|end|>|");
    assertThat(responses(PromptTemplate.CHATML.render(CONVERSATION, "<bos>", "<eos>")))
        .isEqualTo("5<|im_end|>|16 \n<|im_end|>|");
    assertThat(
            responses(
                PromptTemplate.ALPACA.render(Example.Chat.of("Say hi.", "Hi!"), "<s>", "</s>")))
        .isEqualTo("Hi!</s>|");
  }

  @Test
  void alpacaRendersStanfordPrompts() throws Exception {
    JsonNode g = golden().get("alpaca");
    assertThat(
            join(
                PromptTemplate.ALPACA.render(
                    Example.Chat.alpaca("Add the numbers.", "2 and 3", "5"), "<s>", "</s>")))
        .isEqualTo(g.get("with_input").asString());
    assertThat(
            join(
                PromptTemplate.ALPACA.render(
                    Example.Chat.alpaca("Say hi.", "", "Hi!"), "<s>", "</s>")))
        .isEqualTo(g.get("no_input").asString());
    assertThat(PromptTemplate.ALPACA.generationPrompt("Say hi.", "<s>"))
        .isEqualTo(g.get("no_input").asString().replace("Hi!</s>", ""));
  }

  @Test
  void alpacaInputGoesIntoTheUserTurnOfChatTemplates() {
    assertThat(
            join(PromptTemplate.CHATML.render(Example.Chat.alpaca("Add.", "2 and 3", "5"), "", "")))
        .isEqualTo(
            "<|im_start|>user\nAdd.\n\n2 and 3<|im_end|>\n<|im_start|>assistant\n5<|im_end|>\n");
  }

  @Test
  void gemmaPutsTheSystemMessageBeforeTheFirstUserMessage() {
    Example.Chat c =
        new Example.Chat(
            List.of(Message.system("Be brief."), Message.user("Hi"), Message.assistant("Hello")),
            "");
    assertThat(join(PromptTemplate.GEMMA.render(c, "<bos>", "<eos>")))
        .isEqualTo(
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n");
    assertThat(join(PromptTemplate.LLAMA3.render(c, "<|begin_of_text|>", "")))
        .startsWith(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>");
  }

  @Test
  void preQueryMatchesTheMagpieConfigs() throws Exception {
    JsonNode magpie =
        JSON.readTree(SharedDatasets.file("magpie-pre-query-templates.json").toFile());
    assertThat(PromptTemplate.LLAMA3.preQuery("<|begin_of_text|>"))
        .isEqualTo(
            magpie.get("meta-llama/Meta-Llama-3-8B-Instruct").get("pre_query_template").asString());
    assertThat(PromptTemplate.CHATML.preQuery("<bos>"))
        .isEqualTo(magpie.get("Qwen/Qwen2-7B-Instruct").get("pre_query_template").asString());
    assertThat(PromptTemplate.PHI3.preQuery("<|endoftext|>"))
        .isEqualTo(
            magpie.get("microsoft/Phi-3-small-128k-instruct").get("pre_query_template").asString());
    // Magpie's gemma-2 entries carry an extra "\n"; the official template (and gemma-1.1's entry)
    // do not
    assertThat(PromptTemplate.GEMMA.preQuery("<bos>"))
        .isEqualTo(magpie.get("google/gemma-1.1-7b-it").get("pre_query_template").asString());
    assertThat(PromptTemplate.GEMMA.stopStrings("<eos>")).containsExactly("<end_of_turn>", "<eos>");
  }

  @Test
  void unknownTemplateNamesTheValue() {
    assertThatThrownBy(() -> PromptTemplate.of("vicuna")).hasMessageContaining("'vicuna'");
  }

  @Test
  void theSpecCatalogNamesExactlyTheseTemplates() {
    assertThat(java.util.Arrays.stream(PromptTemplate.values()).map(PromptTemplate::id))
        .containsExactlyElementsOf(dev.distill.spec.Catalog.TEMPLATES);
    assertThat(PreQueryTemplates.names())
        .containsExactlyElementsOf(dev.distill.spec.Catalog.PRE_QUERY_TEMPLATES.keySet());
  }
}
