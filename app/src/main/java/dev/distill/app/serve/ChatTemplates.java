package dev.distill.app.serve;

import dev.distill.trainer.data.PromptTemplate;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;

/**
 * Which of the trainer's {@link PromptTemplate}s renders a checkpoint's chat: the Jinja {@code
 * chat_template} of its {@code tokenizer_config.json}, recognised by the markers each family writes
 * (there is no Jinja engine here, and the trainer renders exactly these families). A checkpoint
 * without one gets the gemma template, which our training defaults to.
 */
final class ChatTemplates {

  /**
   * The template and where it came from.
   *
   * @param source what chose it, for the log and {@code /v1/models}
   */
  record Choice(PromptTemplate template, String source) {}

  /** A marker of a Jinja chat template and the family that writes it. */
  private record Marker(String text, PromptTemplate template) {}

  /** Tried in this order. */
  private static final List<Marker> MARKERS =
      List.of(
          new Marker("<start_of_turn>", PromptTemplate.GEMMA),
          new Marker("<|start_header_id|>", PromptTemplate.LLAMA3),
          new Marker("<|im_start|>", PromptTemplate.CHATML),
          new Marker("<|assistant|>", PromptTemplate.PHI3),
          new Marker("### Instruction", PromptTemplate.ALPACA));

  private ChatTemplates() {}

  /**
   * @param dir the model directory
   * @param override a template name given on the command line, or null
   * @throws IllegalArgumentException when the name is unknown or the checkpoint's template is none
   *     of the families
   */
  static Choice choose(Path dir, String override) {
    if (override != null) {
      return new Choice(PromptTemplate.of(override), "--template");
    }
    Path file = dir.resolve("tokenizer_config.json");
    String jinja = chatTemplate(file);
    if (jinja == null) {
      return new Choice(
          PromptTemplate.GEMMA, "default (no chat_template in " + file.getFileName() + ")");
    }
    for (Marker m : MARKERS) {
      if (jinja.contains(m.text())) {
        return new Choice(m.template(), "chat_template of " + file.getFileName());
      }
    }
    throw new IllegalArgumentException(
        file
            + ": its chat_template is none of the templates distill renders (gemma, llama3, chatml,"
            + " phi3, alpaca); choose one with --template");
  }

  /** The {@code chat_template} string (or the {@code default} of a list), or null. */
  private static String chatTemplate(Path file) {
    if (!Files.isRegularFile(file)) {
      return null;
    }
    JsonNode root;
    try {
      root = Json.MAPPER.readTree(Files.readString(file));
    } catch (IOException | JacksonException e) {
      throw new IllegalArgumentException(file + ": not readable JSON: " + e.getMessage(), e);
    }
    JsonNode t = root.path("chat_template");
    if (t.isString()) {
      return t.asString();
    }
    if (t.isArray()) {
      for (JsonNode named : t) {
        if ("default".equals(named.path("name").asString(null))) {
          return named.path("template").asString(null);
        }
      }
    }
    return null;
  }
}
