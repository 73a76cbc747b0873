package dev.distill.trainer.data;

import java.util.List;
import tools.jackson.databind.JsonNode;

/**
 * One example of an evaluation set, for per-example results: the conversation, and the record it
 * was read from (so that fields beside the format's, such as {@code "model 1 response"}, can be
 * scored).
 *
 * @param index the example's position in the evaluation set (0-based)
 * @param example the conversation; its last message is the reference answer
 * @param record the JSON record of a file, or null (procedural data)
 */
public record EvalRecord(int index, Example.Chat example, JsonNode record) {

  /** The conversation before the reference answer. */
  public Example.Chat question() {
    List<Message> m = example.messages();
    return new Example.Chat(m.subList(0, m.size() - 1), example.input());
  }

  /** The first user message: Alpaca's instruction. */
  public String instruction() {
    return example.messages().stream()
        .filter(m -> m.role().equals("user"))
        .map(Message::content)
        .findFirst()
        .orElse("");
  }

  /** The reference answer. */
  public String reference() {
    return example.messages().get(example.messages().size() - 1).content();
  }

  /** A string field of the record, or null when absent or not a string. */
  public String field(String name) {
    if (record == null) {
      return null;
    }
    JsonNode v = record.get(name);
    return v != null && v.isString() ? v.asString() : null;
  }
}
