package dev.distill.app.serve;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distill.trainer.data.PromptTemplate;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The chat template of a checkpoint: the flag, else its chat_template's family, else gemma. */
class ChatTemplatesTest {

  @TempDir Path dir;

  private void config(Object chatTemplate) throws Exception {
    Files.writeString(
        dir.resolve("tokenizer_config.json"),
        Json.MAPPER.writeValueAsString(Map.of("bos_token", "<s>", "chat_template", chatTemplate)));
  }

  @Test
  void withoutAChatTemplateItIsGemma() {
    ChatTemplates.Choice c = ChatTemplates.choose(dir, null);
    assertThat(c.template()).isEqualTo(PromptTemplate.GEMMA);
    assertThat(c.source()).contains("default");
  }

  @Test
  void aJinjaTemplateIsKnownByItsMarkers() throws Exception {
    // the start of Meta-Llama-3-8B-Instruct's chat_template
    config(
        "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content ="
            + " '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+"
            + " message['content'] | trim + '<|eot_id|>' %}{{ content }}{% endfor %}");
    assertThat(ChatTemplates.choose(dir, null).template()).isEqualTo(PromptTemplate.LLAMA3);
    config(java.util.List.of(Map.of("name", "default", "template", "{{'<|im_start|>' + role}}")));
    assertThat(ChatTemplates.choose(dir, null).template()).isEqualTo(PromptTemplate.CHATML);
  }

  @Test
  void theFlagWinsAndAnUnknownFamilyAsksForIt() throws Exception {
    config("{{ '[INST] ' + message['content'] + ' [/INST]' }}");
    assertThatThrownBy(() -> ChatTemplates.choose(dir, null)).hasMessageContaining("--template");
    assertThat(ChatTemplates.choose(dir, "phi3").template()).isEqualTo(PromptTemplate.PHI3);
    assertThatThrownBy(() -> ChatTemplates.choose(dir, "mistral"))
        .hasMessageContaining("template must be one of");
  }
}
