package dev.distill.app.serve;

import dev.distill.trainer.data.Message;
import java.util.ArrayList;
import java.util.List;
import tools.jackson.databind.JsonNode;

/**
 * Parses and checks the JSON bodies of the two generation endpoints. Every error is a 400 naming
 * the parameter ({@link OpenAiError#invalid}); parameters this server does not implement are
 * refused when they ask for something other than their default; unknown keys are ignored, as
 * OpenAI's clients send some (such as {@code user}).
 */
final class Requests {

  static final int MAX_N = 16;
  static final int MAX_TOP_LOGPROBS = 20;
  static final int MAX_STOP = 4;

  /** OpenAI's default for {@code /v1/completions}. */
  static final int DEFAULT_COMPLETION_TOKENS = 16;

  /** Ours for chat, where OpenAI uses the whole context. */
  static final int DEFAULT_CHAT_TOKENS = 256;

  /** A checked {@code /v1/completions} body: one or more raw prompts. */
  record Completion(String model, List<String> prompts, SamplingParams params) {}

  /** A checked {@code /v1/chat/completions} body. */
  record Chat(String model, List<Message> messages, SamplingParams params) {}

  private Requests() {}

  static Completion completion(JsonNode body) {
    requireObject(body);
    String model = model(body);
    JsonNode p = body.path("prompt");
    List<String> prompts = new ArrayList<>();
    if (p.isString()) {
      prompts.add(p.asString());
    } else if (p.isArray() && !p.isEmpty()) {
      for (int i = 0; i < p.size(); i++) {
        if (!p.get(i).isString()) {
          throw OpenAiError.invalid(
              "prompt",
              "prompt must be a string or a list of strings (token ids are not accepted)");
        }
        prompts.add(p.get(i).asString());
      }
    } else {
      throw OpenAiError.invalid(
          "prompt",
          p.isMissingNode()
              ? "prompt is required"
              : "prompt must be a string or a list of strings");
    }
    for (int i = 0; i < prompts.size(); i++) {
      if (prompts.get(i).isEmpty()) {
        throw OpenAiError.invalid("prompt", "prompt must not be empty");
      }
    }
    unsupported(body, "echo", n -> n.isBoolean() && !n.asBoolean());
    unsupported(body, "suffix", n -> n.isString() && n.asString().isEmpty());
    unsupported(body, "best_of", n -> n.isIntegralNumber() && n.asInt() == 1);
    Integer logprobs = optionalInt(body, "logprobs", 0, MAX_TOP_LOGPROBS);
    return new Completion(
        model,
        prompts,
        params(body, body.path("max_tokens"), "max_tokens", DEFAULT_COMPLETION_TOKENS, logprobs));
  }

  static Chat chat(JsonNode body) {
    requireObject(body);
    String model = model(body);
    JsonNode ms = body.path("messages");
    if (!ms.isArray() || ms.isEmpty()) {
      throw OpenAiError.invalid(
          "messages",
          ms.isMissingNode() ? "messages is required" : "messages must be a non-empty list");
    }
    List<Message> messages = new ArrayList<>();
    for (int i = 0; i < ms.size(); i++) {
      messages.add(message(ms.get(i), "messages[" + i + "]"));
    }
    unsupported(body, "tools", n -> n.isArray() && n.isEmpty());
    unsupported(body, "functions", n -> n.isArray() && n.isEmpty());
    unsupported(body, "response_format", n -> "text".equals(n.path("type").asString(null)));
    Integer logprobs = null;
    JsonNode lp = body.path("logprobs");
    if (!lp.isMissingNode() && !lp.isNull() && !lp.isBoolean()) {
      throw OpenAiError.invalid("logprobs", "logprobs must be a boolean");
    }
    Integer top = optionalInt(body, "top_logprobs", 0, MAX_TOP_LOGPROBS);
    if (lp.asBoolean(false)) {
      logprobs = top == null ? 0 : top;
    } else if (top != null) {
      throw OpenAiError.invalid("top_logprobs", "top_logprobs needs logprobs: true");
    }
    JsonNode max = body.path("max_completion_tokens");
    String maxName = "max_completion_tokens";
    if (max.isMissingNode() || max.isNull()) {
      max = body.path("max_tokens");
      maxName = "max_tokens";
    }
    return new Chat(model, messages, params(body, max, maxName, DEFAULT_CHAT_TOKENS, logprobs));
  }

  private static Message message(JsonNode m, String path) {
    if (!m.isObject()) {
      throw OpenAiError.invalid(path, path + " must be an object with role and content");
    }
    String role = m.path("role").asString(null);
    if (role == null) {
      throw OpenAiError.invalid(path + ".role", path + ".role is required");
    }
    if (role.equals("developer")) {
      role = "system"; // OpenAI's newer name for the system role
    }
    if (!Message.ROLES.contains(role)) {
      throw OpenAiError.invalid(
          path + ".role",
          path + ".role must be system, developer, user or assistant, was '" + role + "'");
    }
    JsonNode c = m.path("content");
    String content;
    if (c.isString()) {
      content = c.asString();
    } else if (c.isArray()) {
      StringBuilder sb = new StringBuilder();
      for (int i = 0; i < c.size(); i++) {
        JsonNode part = c.get(i);
        if (!"text".equals(part.path("type").asString(null)) || !part.path("text").isString()) {
          throw OpenAiError.invalid(
              path + ".content[" + i + "]",
              path
                  + ".content["
                  + i
                  + "]: only text parts ({\"type\": \"text\", \"text\": ...}) are supported");
        }
        sb.append(part.path("text").asString());
      }
      content = sb.toString();
    } else if ((c.isNull() || c.isMissingNode()) && role.equals("assistant")) {
      content = "";
    } else {
      throw OpenAiError.invalid(
          path + ".content", path + ".content must be a string or a list of text parts");
    }
    return new Message(role, content);
  }

  private static SamplingParams params(
      JsonNode body, JsonNode maxNode, String maxName, int defaultMax, Integer logprobs) {
    int maxTokens = defaultMax;
    if (!maxNode.isMissingNode() && !maxNode.isNull()) {
      if (!maxNode.isIntegralNumber() || !maxNode.canConvertToInt() || maxNode.asInt() < 1) {
        throw OpenAiError.invalid(maxName, maxName + " must be an integer >= 1, was " + maxNode);
      }
      maxTokens = maxNode.asInt();
    }
    double temperature = optionalNumber(body, "temperature", 0, 2, 1.0);
    double topP = optionalNumber(body, "top_p", 0, 1, 1.0);
    if (topP == 0) {
      throw OpenAiError.invalid("top_p", "top_p must be > 0 and <= 1, was 0");
    }
    Integer n = optionalInt(body, "n", 1, MAX_N);
    unsupported(body, "presence_penalty", x -> x.isNumber() && x.asDouble() == 0);
    unsupported(body, "frequency_penalty", x -> x.isNumber() && x.asDouble() == 0);
    unsupported(body, "logit_bias", x -> x.isObject() && x.isEmpty());
    JsonNode seedNode = body.path("seed");
    Long seed = null;
    if (!seedNode.isMissingNode() && !seedNode.isNull()) {
      if (!seedNode.isIntegralNumber() || !seedNode.canConvertToLong()) {
        throw OpenAiError.invalid("seed", "seed must be an integer, was " + seedNode);
      }
      seed = seedNode.asLong();
    }
    boolean stream = optionalBoolean(body, "stream");
    JsonNode so = body.path("stream_options");
    boolean includeUsage = false;
    if (!so.isMissingNode() && !so.isNull()) {
      if (!stream) {
        throw OpenAiError.invalid("stream_options", "stream_options needs stream: true");
      }
      if (!so.isObject()) {
        throw OpenAiError.invalid("stream_options", "stream_options must be an object");
      }
      JsonNode iu = so.path("include_usage");
      if (!iu.isMissingNode() && !iu.isNull() && !iu.isBoolean()) {
        throw OpenAiError.invalid(
            "stream_options.include_usage", "include_usage must be a boolean");
      }
      includeUsage = iu.asBoolean(false);
    }
    return new SamplingParams(
        maxTokens,
        temperature,
        topP,
        n == null ? 1 : n,
        stop(body),
        seed,
        logprobs,
        stream,
        includeUsage);
  }

  private static List<String> stop(JsonNode body) {
    JsonNode s = body.path("stop");
    List<String> out = new ArrayList<>();
    if (s.isMissingNode() || s.isNull()) {
      return out;
    }
    if (s.isString()) {
      out.add(s.asString());
    } else if (s.isArray()) {
      for (JsonNode x : s) {
        if (!x.isString()) {
          throw OpenAiError.invalid("stop", "stop must be a string or a list of strings");
        }
        out.add(x.asString());
      }
    } else {
      throw OpenAiError.invalid("stop", "stop must be a string or a list of strings");
    }
    if (out.size() > MAX_STOP) {
      throw OpenAiError.invalid(
          "stop", "stop takes at most " + MAX_STOP + " strings, got " + out.size());
    }
    if (out.contains("")) {
      throw OpenAiError.invalid("stop", "stop strings must not be empty");
    }
    return out;
  }

  private static void requireObject(JsonNode body) {
    if (body == null || !body.isObject()) {
      throw OpenAiError.invalid(null, "the body must be a JSON object");
    }
  }

  private static String model(JsonNode body) {
    JsonNode m = body.path("model");
    if (!m.isString() || m.asString().isEmpty()) {
      throw OpenAiError.invalid(
          "model", m.isMissingNode() ? "model is required" : "model must be a non-empty string");
    }
    return m.asString();
  }

  private static void unsupported(
      JsonNode body, String name, java.util.function.Predicate<JsonNode> isDefault) {
    JsonNode n = body.path(name);
    if (!n.isMissingNode() && !n.isNull() && !isDefault.test(n)) {
      throw OpenAiError.unsupported(name, name + "=" + n + " is not supported by this server");
    }
  }

  private static Integer optionalInt(JsonNode body, String name, int min, int max) {
    JsonNode n = body.path(name);
    if (n.isMissingNode() || n.isNull()) {
      return null;
    }
    if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < min || n.asInt() > max) {
      throw OpenAiError.invalid(
          name, name + " must be an integer from " + min + " to " + max + ", was " + n);
    }
    return n.asInt();
  }

  private static double optionalNumber(
      JsonNode body, String name, double min, double max, double dflt) {
    JsonNode n = body.path(name);
    if (n.isMissingNode() || n.isNull()) {
      return dflt;
    }
    if (!n.isNumber() || !(n.asDouble() >= min && n.asDouble() <= max)) {
      throw OpenAiError.invalid(
          name, name + " must be a number from " + min + " to " + max + ", was " + n);
    }
    return n.asDouble();
  }

  private static boolean optionalBoolean(JsonNode body, String name) {
    JsonNode n = body.path(name);
    if (n.isMissingNode() || n.isNull()) {
      return false;
    }
    if (!n.isBoolean()) {
      throw OpenAiError.invalid(name, name + " must be a boolean, was " + n);
    }
    return n.asBoolean();
  }
}
