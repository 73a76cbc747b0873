package dev.distill.app.serve;

import dev.distill.trainer.generate.Generation;
import dev.distill.trainer.generate.GenerationOptions;
import dev.distill.trainer.generate.TokenLogprob;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Runs the choices of a request on the {@link ServedModel} and writes them in OpenAI's shapes:
 * {@code text_completion} and {@code chat.completion}, or their stream chunks. Choice {@code i} of
 * a request is sampled with seed {@code seed + i}; choices run one after another.
 */
final class Completions {

  /** Where a stream's pieces go (a server-sent event each). */
  interface Sink {
    void send(ObjectNode chunk);
  }

  /** One finished choice. */
  record Choice(String text, List<TokenLogprob> logprobs, String finishReason, int tokens) {}

  /** Whether a request is a chat: it decides every object name and field. */
  enum Kind {
    TEXT("cmpl-", "text_completion", "text_completion"),
    CHAT("chatcmpl-", "chat.completion", "chat.completion.chunk");

    final String idPrefix;
    final String object;
    final String chunkObject;

    Kind(String idPrefix, String object, String chunkObject) {
      this.idPrefix = idPrefix;
      this.object = object;
      this.chunkObject = chunkObject;
    }
  }

  private final ServedModel model;
  private final Kind kind;
  private final SamplingParams params;
  private final String id;
  private final long created = System.currentTimeMillis() / 1000;
  private final long baseSeed;
  private int promptTokens;
  private int completionTokens;

  Completions(ServedModel model, Kind kind, SamplingParams params) {
    this.model = model;
    this.kind = kind;
    this.params = params;
    this.id = kind.idPrefix + UUID.randomUUID().toString().replace("-", "");
    this.baseSeed = params.seed() != null ? params.seed() : ThreadLocalRandom.current().nextLong();
  }

  /**
   * Encodes the prompts, refusing one that leaves no room in the context.
   *
   * @param param the parameter named in the error ({@code prompt} or {@code messages})
   */
  List<List<Integer>> encode(List<String> prompts, String param) {
    List<List<Integer>> out = new ArrayList<>();
    for (String p : prompts) {
      List<Integer> ids = model.encode(p);
      if (ids.isEmpty()) {
        throw OpenAiError.invalid(param, param + " encodes to no tokens");
      }
      if (ids.size() >= model.contextLength()) {
        throw OpenAiError.invalid(
            param,
            "This model's context is "
                + model.contextLength()
                + " tokens; the prompt has "
                + ids.size()
                + ", which leaves no room for a completion");
      }
      out.add(ids);
    }
    return out;
  }

  /** All choices, then the whole answer. */
  ObjectNode complete(List<List<Integer>> prompts) {
    ArrayNode choices = Json.MAPPER.createArrayNode();
    int index = 0;
    for (List<Integer> prompt : prompts) {
      promptTokens += prompt.size();
      for (int i = 0; i < params.n(); i++, index++) {
        Choice c = run(prompt, index, null);
        ObjectNode choice = choices.addObject();
        choice.put("index", index);
        if (kind == Kind.CHAT) {
          ObjectNode message = choice.putObject("message");
          message.put("role", "assistant");
          message.put("content", c.text());
        } else {
          choice.put("text", c.text());
        }
        putLogprobs(choice, c.logprobs());
        choice.put("finish_reason", c.finishReason());
      }
    }
    ObjectNode root = header(kind.object);
    root.set("choices", choices);
    root.set("usage", usage());
    return root;
  }

  /** All choices as a stream of chunks (without the final {@code [DONE]}). */
  void stream(List<List<Integer>> prompts, Sink sink) {
    int index = 0;
    for (List<Integer> prompt : prompts) {
      promptTokens += prompt.size();
      for (int i = 0; i < params.n(); i++, index++) {
        if (kind == Kind.CHAT) { // the first chunk of a choice names the role
          ObjectNode delta = Json.MAPPER.createObjectNode();
          delta.put("role", "assistant");
          delta.put("content", "");
          sink.send(chunk(index, delta, null, null));
        }
        int choiceIndex = index;
        Choice c = run(prompt, index, (text, lp) -> sink.send(chunk(choiceIndex, text, lp, null)));
        sink.send(
            chunk(
                index,
                kind == Kind.CHAT ? Json.MAPPER.createObjectNode() : null,
                null,
                c.finishReason()));
      }
    }
    if (params.includeUsage()) {
      ObjectNode last = header(kind.chunkObject);
      last.putArray("choices");
      last.set("usage", usage());
      sink.send(last);
    }
  }

  /** The usage of the choices run so far. */
  ObjectNode usage() {
    ObjectNode u = Json.MAPPER.createObjectNode();
    u.put("prompt_tokens", promptTokens);
    u.put("completion_tokens", completionTokens);
    u.put("total_tokens", promptTokens + completionTokens);
    return u;
  }

  private interface Deltas {
    void delta(String text, TokenLogprob logprob);
  }

  private Choice run(List<Integer> prompt, int index, Deltas deltas) {
    int room = model.contextLength() - prompt.size();
    GenerationOptions options =
        new GenerationOptions(
            Math.min(params.maxTokens(), room),
            params.temperature(),
            params.topP(),
            baseSeed + index,
            model.stopTokenIds(),
            params.stop());
    List<TokenLogprob> logprobs = new ArrayList<>();
    StreamText stream = new StreamText(params.stop());
    List<Integer> sofar = new ArrayList<>();
    int top = params.logprobs() == null ? 0 : params.logprobs();
    Generation g =
        model.generate(
            prompt,
            options,
            top,
            lp -> {
              if (params.logprobs() != null) {
                logprobs.add(lp);
              }
              if (deltas != null) {
                sofar.add(lp.id());
                String text = stream.next(model.decode(sofar));
                if (!text.isEmpty() || params.logprobs() != null) {
                  deltas.delta(text, params.logprobs() != null ? lp : null);
                }
              }
            });
    if (deltas != null) {
      String rest = stream.finish(g.text());
      if (!rest.isEmpty()) {
        deltas.delta(rest, null);
      }
    }
    completionTokens += g.tokens().size();
    String finish =
        switch (g.stopReason()) {
          case STOP_TOKEN, STOP_STRING -> "stop";
          case MAX_TOKENS, CONTEXT_FULL -> "length";
        };
    return new Choice(
        g.text(), params.logprobs() == null ? null : logprobs, finish, g.tokens().size());
  }

  private ObjectNode header(String object) {
    ObjectNode root = Json.MAPPER.createObjectNode();
    root.put("id", id);
    root.put("object", object);
    root.put("created", created);
    root.put("model", model.name());
    if (kind == Kind.CHAT) {
      root.putNull("system_fingerprint");
    }
    return root;
  }

  /**
   * @param content a chat delta object, or the text of a completion chunk
   */
  private ObjectNode chunk(int index, Object content, TokenLogprob lp, String finishReason) {
    ObjectNode root = header(kind.chunkObject);
    ObjectNode choice = root.putArray("choices").addObject();
    choice.put("index", index);
    if (kind == Kind.CHAT) {
      if (content instanceof String text) {
        choice.putObject("delta").put("content", text);
      } else {
        choice.set("delta", (ObjectNode) content);
      }
    } else {
      choice.put("text", content == null ? "" : (String) content);
    }
    putLogprobs(choice, lp == null ? null : List.of(lp));
    if (finishReason == null) {
      choice.putNull("finish_reason");
    } else {
      choice.put("finish_reason", finishReason);
    }
    return root;
  }

  private void putLogprobs(ObjectNode choice, List<TokenLogprob> lps) {
    if (lps == null) {
      choice.putNull("logprobs");
    } else if (kind == Kind.CHAT) {
      ObjectNode lp = choice.putObject("logprobs");
      ArrayNode content = lp.putArray("content");
      for (TokenLogprob t : lps) {
        ObjectNode e = token(content.addObject(), t.id(), t.logprob());
        ArrayNode top = e.putArray("top_logprobs");
        for (TokenLogprob.Alternative a : t.top()) {
          token(top.addObject(), a.id(), a.logprob());
        }
      }
      lp.putNull("refusal");
    } else {
      ObjectNode lp = choice.putObject("logprobs");
      ArrayNode tokens = lp.putArray("tokens");
      ArrayNode values = lp.putArray("token_logprobs");
      ArrayNode tops = lp.putArray("top_logprobs");
      ArrayNode offsets = lp.putArray("text_offset");
      int offset = 0;
      for (TokenLogprob t : lps) {
        String s = model.tokenText(t.id());
        tokens.add(s);
        values.add(t.logprob());
        ObjectNode top = tops.addObject();
        for (TokenLogprob.Alternative a : t.top()) {
          top.put(model.tokenText(a.id()), a.logprob());
        }
        offsets.add(offset);
        offset += s.length();
      }
    }
  }

  private ObjectNode token(ObjectNode e, int id, double logprob) {
    String s = model.tokenText(id);
    e.put("token", s);
    e.put("logprob", logprob);
    ArrayNode bytes = e.putArray("bytes");
    for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
      bytes.add(b & 0xff);
    }
    return e;
  }
}
