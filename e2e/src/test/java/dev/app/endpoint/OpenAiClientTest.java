package dev.distill.app.endpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distill.e2e.FakeOpenAiServer;
import dev.distill.spec.Endpoints;
import dev.distill.trainer.text.TextAnswer;
import dev.distill.trainer.text.TextModelException;
import dev.distill.trainer.text.TextRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The worker's client of OpenAI-compatible endpoints against a real HTTP server: raw and chat
 * completions, the bearer key, retries of 429 and 5xx (Retry-After honoured), no retry of other
 * refusals, and the cap of requests in flight.
 */
class OpenAiClientTest {

  private static final OpenAiClient.Settings FAST =
      new OpenAiClient.Settings(
          Duration.ofSeconds(5),
          Duration.ofSeconds(20),
          3,
          Duration.ofMillis(20),
          Duration.ofSeconds(2));

  private static TextRequest req(String prompt) {
    return new TextRequest(prompt, 8, 0.0, 1.0, 1, List.of("<end_of_turn>"), "t");
  }

  private static FakeOpenAiServer echo(String key) throws Exception {
    return new FakeOpenAiServer(
        (path, body) -> {
          try {
            Thread.sleep(30);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          return path.equals("completions")
              ? "raw:" + body.get("prompt").asString() + ":" + body.get("stop").get(0).asString()
              : "chat:" + body.get("messages").get(0).get("content").asString();
        },
        body -> body.has("prompt") ? body.get("prompt").asString() : "chat",
        key);
  }

  private static OpenAiClient client(FakeOpenAiServer s, String key, int concurrency) {
    return new OpenAiClient("judge", Endpoints.canonical(s.baseUrl()), "m", key, concurrency, FAST);
  }

  @Test
  void completesRawPromptsAndChatMessagesWithTheKey() throws Exception {
    try (FakeOpenAiServer s = echo("sk-test-123")) {
      OpenAiClient c = client(s, "sk-test-123", 2);
      TextAnswer a = c.complete(req("<start_of_turn>user\n"));
      assertThat(a.text()).isEqualTo("raw:<start_of_turn>user\n:<end_of_turn>");
      assertThat(a.truncated()).isFalse();
      assertThat(c.chat(req("score it")).text()).isEqualTo("chat:score it");
      assertThat(s.authorizations()).containsOnly("Bearer sk-test-123");
    }
  }

  @Test
  void retries429And500HonouringRetryAfterThenSucceeds() throws Exception {
    try (FakeOpenAiServer s = echo(null)) {
      s.failFirst(
          new FakeOpenAiServer.Failure(429, 1),
          new FakeOpenAiServer.Failure(500, null),
          new FakeOpenAiServer.Failure(503, null));
      long t0 = System.nanoTime();
      assertThat(client(s, null, 1).complete(req("x")).text()).startsWith("raw:x");
      assertThat(s.requests()).isEqualTo(4);
      // the Retry-After of 1 s was waited (the backoff alone would be 20-80 ms)
      assertThat(Duration.ofNanos(System.nanoTime() - t0))
          .isGreaterThanOrEqualTo(Duration.ofSeconds(1));
    }
  }

  @Test
  void givesUpAfterTheRetriesAsARetryableFailure() throws Exception {
    try (FakeOpenAiServer s = echo(null)) {
      for (int i = 0; i < 4; i++) {
        s.failFirst(new FakeOpenAiServer.Failure(500, null));
      }
      assertThatThrownBy(() -> client(s, null, 1).complete(req("x")))
          .isInstanceOf(TextModelException.class) // an IOException: the attempt is retryable
          .hasMessageContaining("answered 500")
          .hasMessageContaining("4 tries");
      assertThat(s.requests()).isEqualTo(4);
    }
  }

  @Test
  void aRefusalOtherThan429Or5xxIsNotRetriedAndNeverShowsTheKey() throws Exception {
    try (FakeOpenAiServer s = echo("right-key")) {
      assertThatThrownBy(() -> client(s, "wrong-key-secret", 1).complete(req("x")))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("answered 401")
          .hasMessageNotContaining("wrong-key-secret");
      assertThat(s.requests()).isEqualTo(1);
    }
  }

  @Test
  void atMostConcurrencyRequestsAreInFlight() throws Exception {
    try (FakeOpenAiServer s = echo(null)) {
      OpenAiClient c = client(s, null, 3);
      ExecutorService pool = Executors.newFixedThreadPool(10);
      List<Future<TextAnswer>> fs = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        int k = i;
        fs.add(pool.submit(() -> c.complete(req("p" + k))));
      }
      for (Future<TextAnswer> f : fs) {
        f.get();
      }
      pool.shutdown();
      assertThat(s.requests()).isEqualTo(20);
      assertThat(s.maxInFlight()).isBetween(2, 3);
    }
  }

  @Test
  void keysComeFromTheEnvironmentOrAMountedSecretByEndpointName(@TempDir Path dir)
      throws Exception {
    Files.writeString(dir.resolve("judge"), "sk-from-file\n");
    EndpointKeys keys =
        new EndpointKeys(
            Map.of(
                "DISTILL_ENDPOINT_KEY_BIG_LLM",
                "sk-from-env",
                EndpointKeys.KEYS_DIR_VARIABLE,
                dir.toString()));
    assertThat(keys.key("big-llm")).hasValue("sk-from-env");
    assertThat(keys.key("judge")).hasValue("sk-from-file");
    assertThat(keys.key("other")).isEmpty();
  }
}
