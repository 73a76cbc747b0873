package dev.distill.trainer.data;

import java.util.List;

/** One training example before templating: a conversation or a plain-text document. */
public sealed interface Example permits Example.Chat, Example.Text {

  /**
   * The text that decides the train/validation side: the whole example, prompt and answer. An exact
   * duplicate lands on the side of its twin; a prompt with a unique answer is therefore entirely on
   * one side (held-out prompts of deterministic tasks are unseen in training); a prompt answered in
   * several ways ("Name a fruit.") appears on both sides with different answers, so validation
   * measures how well the answer distribution was learnt.
   */
  String splitKey();

  /**
   * A conversation (Alpaca records become one user and one assistant message).
   *
   * @param messages the turns in order
   * @param input Alpaca's optional {@code input} field, "" when absent: the alpaca template writes
   *     it under {@code ### Input:}, the chat templates append it to the first user message after a
   *     blank line
   */
  record Chat(List<Message> messages, String input) implements Example {
    public Chat {
      if (messages == null || messages.isEmpty()) {
        throw new IllegalArgumentException("a chat example needs at least one message");
      }
      messages = List.copyOf(messages);
      input = input == null ? "" : input;
    }

    /** An Alpaca record. */
    public static Chat alpaca(String instruction, String input, String output) {
      return new Chat(List.of(Message.user(instruction), Message.assistant(output)), input);
    }

    /** A single-turn question and answer. */
    public static Chat of(String prompt, String answer) {
      return new Chat(List.of(Message.user(prompt), Message.assistant(answer)), "");
    }

    @Override
    public String splitKey() {
      StringBuilder sb = new StringBuilder();
      for (Message m : messages) {
        sb.append(m.role()).append('\u0000').append(m.content()).append('\u0000');
      }
      return sb.append(input).toString();
    }
  }

  /** A plain-text document, trained on every token. */
  record Text(String text) implements Example {
    public Text {
      if (text == null) {
        throw new IllegalArgumentException("text is missing");
      }
    }

    @Override
    public String splitKey() {
      return text;
    }
  }
}
