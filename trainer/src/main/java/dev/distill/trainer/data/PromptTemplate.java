package dev.distill.trainer.data;

import dev.distill.spec.Catalog;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The supported prompt templates, rendering text exactly as the official chat templates do (the
 * Jinja {@code chat_template} of each model family's {@code tokenizer_config.json}; {@code
 * bos_token} and {@code eos_token} are the tokenizer's, passed in). A response segment is the
 * assistant's content followed by the end-of-turn marker, so the model learns to stop; the newline
 * the template writes after that marker is not a response token.
 *
 * <ul>
 *   <li>{@code gemma} (google/gemma-2-*-it): {@code <bos><start_of_turn>user\n{q}<end_of_turn>\n
 *       <start_of_turn>model\n{a}<end_of_turn>\n}, contents trimmed. Gemma has no system role: a
 *       system message is put before the first user message, separated by a blank line (as Google
 *       advises).
 *   <li>{@code llama3} (Meta-Llama-3-8B-Instruct): {@code <|begin_of_text|><|start_header_id|>user
 *       <|end_header_id|>\n\n{q}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{a}<|eot_id|>},
 *       contents trimmed.
 *   <li>{@code phi3} (Phi-3-mini-128k-instruct): {@code
 *       <s><|user|>\n{q}<|end|>\n<|assistant|>\n{a}<|end|>\n} (system as {@code
 *       <|system|>\n{s}<|end|>\n}, as in Phi-3.5).
 *   <li>{@code chatml}: {@code
 *       <|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n{a}<|im_end|>\n}, no BOS, no
 *       default system message.
 *   <li>{@code alpaca} (tatsu-lab/stanford_alpaca {@code PROMPT_DICT}): the "Below is an
 *       instruction..." prompt, then the output followed by the EOS token; preceded by BOS as
 *       LLaMA's tokenizer adds it.
 * </ul>
 */
public enum PromptTemplate {
  ALPACA("", "", ""),
  GEMMA("<start_of_turn>", "<end_of_turn>", "\n"),
  LLAMA3("<|start_header_id|>", "<|eot_id|>", ""),
  PHI3("", "<|end|>", "\n"),
  CHATML("<|im_start|>", "<|im_end|>", "\n");

  static final String ALPACA_PREAMBLE_INPUT =
      "Below is an instruction that describes a task, paired with an input that provides further"
          + " context. Write a response that appropriately completes the request.\n\n";
  static final String ALPACA_PREAMBLE =
      "Below is an instruction that describes a task. Write a response that appropriately completes"
          + " the request.\n\n";

  private final String turnStart;
  private final String endOfTurn;
  private final String afterEnd;

  PromptTemplate(String turnStart, String endOfTurn, String afterEnd) {
    this.turnStart = turnStart;
    this.endOfTurn = endOfTurn;
    this.afterEnd = afterEnd;
  }

  /**
   * The template of a spec name, one of the spec's {@link Catalog#TEMPLATES} ({@code
   * PromptTemplateTest} asserts that they are exactly this enum's ids).
   */
  public static PromptTemplate of(String name) {
    if (name == null) {
      throw new IllegalArgumentException("template name is missing");
    }
    try {
      return valueOf(name.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "template must be one of "
              + String.join(", ", Catalog.TEMPLATES)
              + ", was '"
              + name
              + "'",
          e);
    }
  }

  /** The spec name. */
  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }

  /**
   * The marker that ends every turn ({@code <end_of_turn>} for gemma), or "" for alpaca, whose
   * responses end with the tokenizer's EOS.
   */
  public String endOfTurn() {
    return endOfTurn;
  }

  /** Whether the official template starts with {@code bos_token}. */
  boolean usesBos() {
    return this != CHATML;
  }

  /**
   * Renders a conversation into prompt and response segments; their texts concatenated are the
   * official rendering with {@code add_generation_prompt=False}.
   *
   * @param bosToken the tokenizer's BOS string ({@code <bos>} for Gemma), "" for none
   * @param eosToken the tokenizer's EOS string (used by alpaca only)
   */
  public List<Segment> render(Example.Chat example, String bosToken, String eosToken) {
    List<Segment> out = new ArrayList<>();
    StringBuilder prompt = new StringBuilder(usesBos() ? bosToken : "");
    List<Message> messages = withInput(example);
    if (this == ALPACA) {
      renderAlpaca(messages, example.input(), eosToken, prompt, out);
    } else {
      for (Message m : mergeSystemForGemma(messages)) {
        prompt.append(header(m.role()));
        if (m.isAssistant()) {
          out.add(new Segment(prompt.toString(), false));
          prompt.setLength(0);
          out.add(new Segment(content(m) + endOfTurn, true));
          prompt.append(afterEnd);
        } else {
          prompt.append(content(m)).append(endOfTurn).append(afterEnd);
        }
      }
    }
    if (!prompt.isEmpty()) {
      out.add(new Segment(prompt.toString(), false));
    }
    return out;
  }

  /**
   * The prompt that asks for the next assistant turn ({@code add_generation_prompt=True}), for
   * generation and exact-match evaluation.
   *
   * @param messages the conversation so far, ending with a user message
   */
  public String generationPrompt(Example.Chat messages, String bosToken) {
    StringBuilder sb = new StringBuilder();
    for (Segment s : render(messages, bosToken, "")) {
      sb.append(s.text());
    }
    if (this == ALPACA) {
      return sb.toString(); // the user block already ends with "### Response:\n"
    }
    return sb.append(header("assistant")).toString();
  }

  /** The prompt asking for an answer to a single user message. */
  public String generationPrompt(String userMessage, String bosToken) {
    return generationPrompt(new Example.Chat(List.of(Message.user(userMessage)), ""), bosToken);
  }

  /**
   * Magpie's pre-query template: the rendering up to where the first user message's text starts
   * (the model then writes a user query itself).
   */
  public String preQuery(String bosToken) {
    String bos = usesBos() ? bosToken : "";
    return this == ALPACA ? bos + ALPACA_PREAMBLE + "### Instruction:\n" : bos + header("user");
  }

  /** Strings that end an assistant turn during generation. */
  public List<String> stopStrings(String eosToken) {
    if (this == ALPACA) {
      return eosToken.isEmpty()
          ? List.of("### Instruction:")
          : List.of(eosToken, "### Instruction:");
    }
    return eosToken.isEmpty() ? List.of(endOfTurn) : List.of(endOfTurn, eosToken);
  }

  private String header(String role) {
    return switch (this) {
      case GEMMA -> turnStart + (role.equals("assistant") ? "model" : role) + "\n";
      case LLAMA3 -> turnStart + role + "<|end_header_id|>\n\n";
      case PHI3 -> "<|" + role + "|>\n";
      case CHATML -> turnStart + role + "\n";
      case ALPACA -> "";
    };
  }

  private String content(Message m) {
    // Jinja's trim in the Gemma and Llama 3 templates
    return this == GEMMA || this == LLAMA3 ? m.content().strip() : m.content();
  }

  /** Alpaca's input goes to its own section; chat templates append it to the first user message. */
  private List<Message> withInput(Example.Chat example) {
    if (this == ALPACA || example.input().isEmpty()) {
      return example.messages();
    }
    List<Message> out = new ArrayList<>(example.messages());
    for (int i = 0; i < out.size(); i++) {
      if (out.get(i).role().equals("user")) {
        out.set(i, Message.user(out.get(i).content() + "\n\n" + example.input()));
        break;
      }
    }
    return out;
  }

  private List<Message> mergeSystemForGemma(List<Message> messages) {
    if (this != GEMMA || !messages.get(0).role().equals("system")) {
      return messages;
    }
    List<Message> out = new ArrayList<>(messages.subList(1, messages.size()));
    String system = messages.get(0).content().strip();
    if (!out.isEmpty() && out.get(0).role().equals("user")) {
      out.set(0, Message.user(system + "\n\n" + out.get(0).content().strip()));
    } else {
      out.add(0, Message.user(system));
    }
    return out;
  }

  private static void renderAlpaca(
      List<Message> messages, String input, String eos, StringBuilder prompt, List<Segment> out) {
    String preamble = null;
    boolean first = true;
    for (Message m : messages) {
      switch (m.role()) {
        case "system" ->
            preamble = m.content().endsWith("\n\n") ? m.content() : m.content() + "\n\n";
        case "user" -> {
          boolean withInput = first && !input.isEmpty();
          prompt.append(
              preamble != null ? preamble : withInput ? ALPACA_PREAMBLE_INPUT : ALPACA_PREAMBLE);
          prompt.append("### Instruction:\n").append(m.content()).append("\n\n");
          if (withInput) {
            prompt.append("### Input:\n").append(input).append("\n\n");
          }
          prompt.append("### Response:\n");
          first = false;
        }
        default -> {
          out.add(new Segment(prompt.toString(), false));
          prompt.setLength(0);
          out.add(new Segment(m.content() + eos, true));
        }
      }
    }
  }
}
