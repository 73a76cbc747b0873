package dev.distill.trainer.data;

import java.util.Set;

/**
 * One turn of a conversation.
 *
 * @param role {@code system}, {@code user} or {@code assistant}
 * @param content the text of the turn
 */
public record Message(String role, String content) {

  public static final Set<String> ROLES = Set.of("system", "user", "assistant");

  public Message {
    if (role == null || !ROLES.contains(role)) {
      throw new IllegalArgumentException(
          "role must be one of system, user, assistant, was '" + role + "'");
    }
    if (content == null) {
      throw new IllegalArgumentException("content of a " + role + " message is missing");
    }
  }

  public static Message user(String content) {
    return new Message("user", content);
  }

  public static Message assistant(String content) {
    return new Message("assistant", content);
  }

  public static Message system(String content) {
    return new Message("system", content);
  }

  public boolean isAssistant() {
    return role.equals("assistant");
  }
}
