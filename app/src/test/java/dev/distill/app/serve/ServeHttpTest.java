package dev.distill.app.serve;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import dev.distill.trainer.data.Message;
import dev.distill.trainer.generate.Generation;
import dev.distill.trainer.generate.GenerationOptions;
import dev.distill.trainer.generate.Generator;
import dev.distill.trainer.generate.TokenLogprob;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.tokenize.ByteTokenizer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import tools.jackson.databind.JsonNode;

/**
 * The server over real HTTP with a real (random, tiny) checkpoint: answers in OpenAI's shapes,
 * greedy text equal to the generator's, streams that join to the same text, parameter checks with
 * the parameter named, 401 without the key, 404 for another model, and 429 over the limit.
 */
class ServeHttpTest {

  static final String KEY = "test-key-123";
  static final String NAME = "tiny";

  @TempDir static Path dir;
  static ServedModel model;
  static OpenAiServer server;
  static URI base;
  static final HttpClient http = HttpClient.newHttpClient();

  @BeforeAll
  static void start() {
    TinyCheckpoint.write(dir);
    model = ServedModel.load(dir, NAME, null, "cpu");
    server = OpenAiServer.start(model, new ServeOptions("127.0.0.1", 0, 1, KEY));
    base = URI.create("http://127.0.0.1:" + server.address().getPort() + "/");
  }

  @AfterAll
  static void stop() {
    server.close();
    model.close();
  }

  record Answer(int status, JsonNode body, HttpResponse<String> raw) {}

  static Answer post(String path, String json) throws Exception {
    return send(
        HttpRequest.newBuilder(base.resolve(path))
            .header("Authorization", "Bearer " + KEY)
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(json)));
  }

  static Answer send(HttpRequest.Builder req) throws Exception {
    HttpResponse<String> r = http.send(req.build(), HttpResponse.BodyHandlers.ofString());
    return new Answer(r.statusCode(), Json.MAPPER.readTree(r.body()), r);
  }

  /** The data of each server-sent event, [DONE] included. */
  static List<String> events(String path, String json) throws Exception {
    HttpResponse<Stream<String>> r =
        http.send(
            HttpRequest.newBuilder(base.resolve(path))
                .header("Authorization", "Bearer " + KEY)
                .POST(HttpRequest.BodyPublishers.ofString(json))
                .build(),
            HttpResponse.BodyHandlers.ofLines());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Type"))
        .hasValueSatisfying(v -> assertThat(v).startsWith("text/event-stream"));
    return r.body().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
  }

  static void assertError(Answer a, int status, String type, String param) {
    assertThat(a.status()).as("%s", a.body()).isEqualTo(status);
    JsonNode e = a.body().get("error");
    assertThat(e).as("%s", a.body()).isNotNull();
    assertThat(a.body().size()).isEqualTo(1);
    assertThat(e.get("type").asString()).isEqualTo(type);
    assertThat(e.get("message").asString()).isNotBlank().doesNotContain("Exception", "\tat ");
    if (param == null) {
      assertThat(e.get("param").isNull()).isTrue();
    } else {
      assertThat(e.get("param").asString()).isEqualTo(param);
    }
    assertThat(e.has("code")).isTrue();
  }

  /** Our generator on the same checkpoint, greedy, in this process. */
  static Generation ourGreedy(String prompt, int maxTokens, List<TokenLogprob> heard) {
    ByteTokenizer tok = ByteTokenizer.instance();
    try (NDManager m = NDManager.newBaseManager();
        Gemma2Model lm = Gemma2Model.load(dir, m)) {
      List<Integer> ids = Arrays.stream(tok.encode(prompt)).boxed().toList();
      return new Generator(lm, m, TinyCheckpoint.CONTEXT)
          .generate(
              ids,
              GenerationOptions.greedy(maxTokens, model.stopTokenIds()),
              x -> tok.decode(x.stream().mapToInt(Integer::intValue).toArray(), true),
              2,
              heard == null ? null : heard::add);
    }
  }

  @Test
  void modelsListsTheServedModel() throws Exception {
    Answer a =
        send(
            HttpRequest.newBuilder(base.resolve("v1/models"))
                .header("Authorization", "Bearer " + KEY));
    assertThat(a.status()).isEqualTo(200);
    assertThat(a.body().get("object").asString()).isEqualTo("list");
    JsonNode m = a.body().get("data").get(0);
    assertThat(m.get("id").asString()).isEqualTo(NAME);
    assertThat(m.get("object").asString()).isEqualTo("model");
    assertThat(m.get("chat_template").asString())
        .isEqualTo("gemma"); // no chat_template: the default
    Answer one =
        send(
            HttpRequest.newBuilder(base.resolve("v1/models/" + NAME))
                .header("Authorization", "Bearer " + KEY));
    assertThat(one.body().get("id").asString()).isEqualTo(NAME);
    assertError(
        send(
            HttpRequest.newBuilder(base.resolve("v1/models/other"))
                .header("Authorization", "Bearer " + KEY)),
        404,
        "invalid_request_error",
        "model");
  }

  @Test
  void greedyCompletionIsWhatOurGeneratorWrites() throws Exception {
    String prompt = "<bos>The cat";
    Answer a =
        post(
            "v1/completions",
            Json.MAPPER.writeValueAsString(
                Map.of("model", NAME, "prompt", prompt, "max_tokens", 12, "temperature", 0)));
    assertThat(a.status()).as("%s", a.body()).isEqualTo(200);
    Generation ours = ourGreedy(prompt, 12, null);
    JsonNode choice = a.body().get("choices").get(0);
    assertThat(choice.get("text").asString()).isEqualTo(ours.text());
    assertThat(ours.tokens()).isNotEmpty();
    assertThat(choice.get("index").asInt()).isZero();
    assertThat(choice.get("finish_reason").asString())
        .isEqualTo(ours.stopReason() == Generation.StopReason.MAX_TOKENS ? "length" : "stop");
    assertThat(a.body().get("object").asString()).isEqualTo("text_completion");
    assertThat(a.body().get("model").asString()).isEqualTo(NAME);
    JsonNode usage = a.body().get("usage");
    assertThat(usage.get("prompt_tokens").asInt())
        .isEqualTo(ByteTokenizer.instance().encode(prompt).length);
    assertThat(usage.get("completion_tokens").asInt()).isEqualTo(ours.tokens().size());
    assertThat(usage.get("total_tokens").asInt())
        .isEqualTo(usage.get("prompt_tokens").asInt() + ours.tokens().size());
  }

  @Test
  void logprobsAreTheGeneratorsLogSoftmax() throws Exception {
    String prompt = "<bos>Hello";
    Answer a =
        post(
            "v1/completions",
            """
            {"model": "tiny", "prompt": "<bos>Hello", "max_tokens": 5, "temperature": 0, "logprobs": 2}
            """);
    assertThat(a.status()).as("%s", a.body()).isEqualTo(200);
    List<TokenLogprob> heard = new ArrayList<>();
    ourGreedy(prompt, 5, heard);
    JsonNode lp = a.body().get("choices").get(0).get("logprobs");
    assertThat(lp.get("tokens").size()).isEqualTo(heard.size());
    for (int i = 0; i < heard.size(); i++) {
      assertThat(lp.get("token_logprobs").get(i).asDouble())
          .isCloseTo(heard.get(i).logprob(), within(1e-9));
      assertThat(lp.get("top_logprobs").get(i).size()).isBetween(1, 2);
    }
    Answer chat =
        post(
            "v1/chat/completions",
            """
            {"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4,
             "temperature": 0, "logprobs": true, "top_logprobs": 3}
            """);
    JsonNode content = chat.body().get("choices").get(0).get("logprobs").get("content");
    assertThat(content.size()).isPositive();
    assertThat(content.get(0).get("top_logprobs").size()).isEqualTo(3);
    assertThat(content.get(0).get("logprob").asDouble()).isLessThanOrEqualTo(0);
    assertThat(content.get(0).get("bytes").isArray()).isTrue();
  }

  @Test
  void aStreamJoinsToTheTextOfTheSameRequestUnstreamed() throws Exception {
    String body =
        """
        {"model": "tiny", "messages": [{"role": "system", "content": "Be brief."},
         {"role": "user", "content": "Tell me a story"}], "max_tokens": 30, "temperature": 0.9,
         "seed": 42%s}
        """;
    Answer whole = post("v1/chat/completions", body.formatted(""));
    assertThat(whole.status()).as("%s", whole.body()).isEqualTo(200);
    String text = whole.body().get("choices").get(0).get("message").get("content").asString();
    assertThat(text).isNotEmpty();
    List<String> events =
        events(
            "v1/chat/completions",
            body.formatted(", \"stream\": true, \"stream_options\": {\"include_usage\": true}"));
    assertThat(events.get(events.size() - 1)).isEqualTo("[DONE]");
    StringBuilder joined = new StringBuilder();
    String finish = null;
    JsonNode usage = null;
    for (String e : events.subList(0, events.size() - 1)) {
      JsonNode chunk = Json.MAPPER.readTree(e);
      assertThat(chunk.get("object").asString()).isEqualTo("chat.completion.chunk");
      if (chunk.get("choices").isEmpty()) {
        usage = chunk.get("usage");
        continue;
      }
      JsonNode c = chunk.get("choices").get(0);
      joined.append(c.get("delta").path("content").asString(""));
      if (!c.get("finish_reason").isNull()) {
        finish = c.get("finish_reason").asString();
      }
    }
    assertThat(joined.toString()).isEqualTo(text);
    assertThat(finish)
        .isEqualTo(whole.body().get("choices").get(0).get("finish_reason").asString());
    assertThat(
            Json.MAPPER
                .readTree(events.get(0))
                .get("choices")
                .get(0)
                .get("delta")
                .get("role")
                .asString())
        .isEqualTo("assistant");
    assertThat(usage).isEqualTo(whole.body().get("usage"));
  }

  @Test
  void aSeedMakesSamplingReproducibleAndNChoicesDiffer() throws Exception {
    String body =
        """
        {"model": "tiny", "prompt": "<bos>Once", "max_tokens": 16, "temperature": 1.5, "seed": 7, "n": 2}
        """;
    JsonNode a = post("v1/completions", body).body();
    JsonNode b = post("v1/completions", body).body();
    assertThat(a.get("choices")).hasSize(2);
    assertThat(a.get("choices").get(1).get("index").asInt()).isEqualTo(1);
    assertThat(a.get("choices")).isEqualTo(b.get("choices"));
    assertThat(a.get("choices").get(0).get("text"))
        .isNotEqualTo(a.get("choices").get(1).get("text"));
  }

  @Test
  void aStopStringCutsTheText() throws Exception {
    String prompt = "<bos>abc";
    String free = ourGreedy(prompt, 20, null).text();
    assertThat(free.length()).isGreaterThan(4);
    String stop = free.substring(2, 4);
    Answer a =
        post(
            "v1/completions",
            Json.MAPPER.writeValueAsString(
                Map.of(
                    "model",
                    NAME,
                    "prompt",
                    prompt,
                    "max_tokens",
                    20,
                    "temperature",
                    0,
                    "stop",
                    List.of(stop))));
    JsonNode choice = a.body().get("choices").get(0);
    assertThat(choice.get("text").asString()).isEqualTo(free.substring(0, free.indexOf(stop)));
    assertThat(choice.get("finish_reason").asString()).isEqualTo("stop");
  }

  @Test
  void aPromptThatFillsTheContextIsRefused() throws Exception {
    Answer a =
        post(
            "v1/completions",
            Json.MAPPER.writeValueAsString(
                Map.of("model", NAME, "prompt", "x".repeat(TinyCheckpoint.CONTEXT))));
    assertError(a, 400, "invalid_request_error", "prompt");
    assertThat(a.body().get("error").get("message").asString())
        .contains("context is " + TinyCheckpoint.CONTEXT);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "{\"model\": \"tiny\", \"prompt\": \"a\", \"max_tokens\": 0}|max_tokens|v1/completions",
        "{\"model\": \"tiny\", \"prompt\": \"a\", \"max_tokens\": \"5\"}|max_tokens|v1/completions",
        "{\"model\": \"tiny\", \"prompt\": \"a\", \"temperature\": 2.5}|temperature|v1/completions",
        "{\"model\": \"tiny\", \"prompt\": \"a\", \"top_p\": 0}|top_p|v1/completions",
        "{\"model\": \"tiny\", \"prompt\": \"a\", \"n\": 17}|n|v1/completions",
        "{\"model\": \"tiny\", \"prompt\": \"a\", \"stop\": [\"1\",\"2\",\"3\",\"4\",\"5\"]}|stop|v1/completions",
        "{\"model\": \"tiny\", \"prompt\": \"a\", \"stop\": 5}|stop|v1/completions",
        "{\"model\": \"tiny\", \"prompt\": \"a\", \"logprobs\": 21}|logprobs|v1/completions",
        "{\"model\": \"tiny\", \"prompt\": \"a\", \"seed\": 1.5}|seed|v1/completions",
        "{\"model\": \"tiny\", \"prompt\": \"a\", \"stream\": \"yes\"}|stream|v1/completions",
        "{\"model\": \"tiny\", \"prompt\": \"a\", \"echo\": true}|echo|v1/completions",
        "{\"model\": \"tiny\", \"prompt\": [1, 2]}|prompt|v1/completions",
        "{\"model\": \"tiny\"}|prompt|v1/completions",
        "{\"prompt\": \"a\"}|model|v1/completions",
        "{\"model\": \"tiny\"}|messages|v1/chat/completions",
        "{\"model\": \"tiny\", \"messages\": [{\"role\": \"robot\", \"content\": \"a\"}]}|messages[0].role|v1/chat/completions",
        "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\"}]}|messages[0].content|v1/chat/completions",
        "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"top_logprobs\": 2}|top_logprobs|v1/chat/completions",
        "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"logprobs\": 3}|logprobs|v1/chat/completions",
        "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"max_completion_tokens\": -1}|max_completion_tokens|v1/chat/completions",
      })
  void badParametersAre400NamingTheParameter(String body, String param, String path)
      throws Exception {
    assertError(post(path, body), 400, "invalid_request_error", param);
  }

  @Test
  void invalidJsonIs400() throws Exception {
    assertError(post("v1/chat/completions", "{\"model\": "), 400, "invalid_request_error", null);
    assertError(post("v1/completions", "[]"), 400, "invalid_request_error", null);
  }

  @Test
  void anotherModelIs404() throws Exception {
    Answer a = post("v1/completions", "{\"model\": \"gpt-4\", \"prompt\": \"a\"}");
    assertError(a, 404, "invalid_request_error", "model");
    assertThat(a.body().get("error").get("code").asString()).isEqualTo("model_not_found");
  }

  @Test
  void unknownPathsAndMethodsAreRefused() throws Exception {
    assertError(post("v1/embeddings", "{}"), 404, "invalid_request_error", null);
    assertError(
        send(
            HttpRequest.newBuilder(base.resolve("v1/completions"))
                .header("Authorization", "Bearer " + KEY)),
        405,
        "invalid_request_error",
        null);
  }

  @Test
  void withoutTheKeyEverythingIs401() throws Exception {
    Answer none = send(HttpRequest.newBuilder(base.resolve("v1/models")));
    assertError(none, 401, "invalid_request_error", null);
    assertThat(none.body().get("error").get("code").asString()).isEqualTo("invalid_api_key");
    assertThat(none.raw().headers().firstValue("WWW-Authenticate")).hasValue("Bearer");
    Answer wrong =
        send(
            HttpRequest.newBuilder(base.resolve("v1/completions"))
                .header("Authorization", "Bearer not-the-key")
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"model\": \"tiny\", \"prompt\": \"a\"}")));
    assertError(wrong, 401, "invalid_request_error", null);
    assertThat(wrong.body().get("error").get("message").asString()).doesNotContain(KEY);
  }

  @Test
  void overTheConcurrencyLimitIs429AndTheTakenRequestStillAnswers() throws Exception {
    // the limit is 1: a request admitted while generation is held waits; the next one is 429
    String body =
        "{\"model\": \"tiny\", \"prompt\": \"<bos>a\", \"max_tokens\": 3, \"temperature\": 0}";
    var lock = model.generationLock();
    CompletableFuture<Answer> first;
    lock.lock();
    try {
      first =
          CompletableFuture.supplyAsync(
              () -> {
                try {
                  return post("v1/completions", body);
                } catch (Exception e) {
                  throw new IllegalStateException(e);
                }
              });
      while (!lock.hasQueuedThreads()) { // the first request has been admitted and waits its turn
        Thread.onSpinWait();
      }
      CompletableFuture<HttpResponse<String>> pending =
          http.sendAsync(
              HttpRequest.newBuilder(base.resolve("v1/completions"))
                  .header("Authorization", "Bearer " + KEY)
                  .POST(HttpRequest.BodyPublishers.ofString(body))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      // either it is answered at once, or it was taken too and now waits for the lock as well
      while (!pending.isDone() && lock.getQueueLength() < 2) {
        Thread.onSpinWait();
      }
      assertThat(lock.getQueueLength())
          .as("a second request was taken over the limit of 1")
          .isEqualTo(1);
      HttpResponse<String> r = pending.get();
      Answer second = new Answer(r.statusCode(), Json.MAPPER.readTree(r.body()), r);
      assertError(second, 429, "rate_limit_error", null);
      assertThat(second.raw().headers().firstValue("Retry-After")).hasValue("1");
      assertThat(second.body().get("error").get("message").asString())
          .contains("--max-concurrency");
    } finally {
      lock.unlock();
    }
    assertThat(first.get().status()).isEqualTo(200);
    assertThat(post("v1/completions", body).status()).isEqualTo(200); // the slot is free again
  }

  @Test
  void aClientThatHasItsAnswerFindsTheSlotFree() throws Exception {
    // the limit is 1: the slot is given back before the answer's last byte, never after it
    String body = "{\"model\": \"tiny\", \"prompt\": \"<bos>a\", \"max_tokens\": 1}";
    String streamed =
        "{\"model\": \"tiny\", \"prompt\": \"<bos>a\", \"max_tokens\": 1, \"stream\": true}";
    for (int i = 0; i < 40; i++) {
      assertThat(post("v1/completions", body).status()).as("request %d", i).isEqualTo(200);
      assertThat(events("v1/completions", streamed)).last().isEqualTo("[DONE]");
    }
  }

  @Test
  void theChatPromptIsTheGemmaRendering() {
    assertThat(model.chatPrompt(List.of(Message.system("Be brief."), Message.user("Hi"))))
        .isEqualTo(
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n");
  }
}
