package dev.distill.e2e;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiFunction;
import java.util.function.Function;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * A small OpenAI-compatible server for tests: the outside endpoint of a job (a vLLM or Ollama
 * stand-in). {@code POST /v1/completions} and {@code /v1/chat/completions} answer with the text a
 * rule gives for the request; it can answer the first requests with 429 or 500 (with {@code
 * Retry-After}), hold one request until released, require a bearer key, and it counts what it
 * received and answered per request key (a function of the request, such as the example it scores).
 */
public final class FakeOpenAiServer implements AutoCloseable {

  private static final ObjectMapper JSON = JsonMapper.builder().build();

  /** A canned failure: status and Retry-After seconds (or null). */
  public record Failure(int status, Integer retryAfterSeconds) {}

  private final HttpServer server;
  private final ExecutorService pool = Executors.newCachedThreadPool();
  private final BiFunction<String, JsonNode, String> rule;
  private final Function<JsonNode, String> keyOf;
  private final String requiredKey;
  private final List<Failure> failures = Collections.synchronizedList(new ArrayList<>());
  private final AtomicInteger requests = new AtomicInteger();
  private final AtomicInteger inFlight = new AtomicInteger();
  private final AtomicInteger maxInFlight = new AtomicInteger();
  // whether this handler thread's request still counts as in flight: it stops counting just before
  // its answer is written, since the client may send its next request as soon as it reads one
  private final ThreadLocal<Boolean> counting = ThreadLocal.withInitial(() -> false);
  private final Map<String, AtomicInteger> received = new ConcurrentHashMap<>();
  private final Map<String, AtomicInteger> answered = new ConcurrentHashMap<>();
  private final List<String> authorizations = Collections.synchronizedList(new ArrayList<>());
  private volatile int holdAt = -1;
  private final CountDownLatch held = new CountDownLatch(1);
  private final CountDownLatch release = new CountDownLatch(1);

  /**
   * @param rule (path {@code completions} or {@code chat/completions}, request body) to the text
   * @param keyOf the request's key for the counts
   * @param requiredKey the bearer key every request must carry, or null
   */
  public FakeOpenAiServer(
      BiFunction<String, JsonNode, String> rule,
      Function<JsonNode, String> keyOf,
      String requiredKey)
      throws IOException {
    this.rule = rule;
    this.keyOf = keyOf;
    this.requiredKey = requiredKey;
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
    server.setExecutor(pool);
    server.createContext("/v1/", this::handle);
    server.start();
  }

  /** {@code http://127.0.0.1:<port>/v1}. */
  public String baseUrl() {
    return "http://127.0.0.1:" + server.getAddress().getPort() + "/v1";
  }

  /** The next requests are answered with these failures, one each, before the rule answers. */
  public void failFirst(Failure... f) {
    failures.addAll(List.of(f));
  }

  /** Request number {@code n} (1-based) waits until {@link #release()}, then gets a 500. */
  public void holdRequest(int n) {
    holdAt = n;
  }

  /** Waits until the held request has arrived. */
  public boolean awaitHeld(long seconds) throws InterruptedException {
    return held.await(seconds, java.util.concurrent.TimeUnit.SECONDS);
  }

  public void release() {
    release.countDown();
  }

  public int requests() {
    return requests.get();
  }

  public int maxInFlight() {
    return maxInFlight.get();
  }

  /** Requests received per key (failures and the held one included). */
  public Map<String, Integer> received() {
    return snapshot(received);
  }

  /** Requests answered with text per key. */
  public Map<String, Integer> answered() {
    return snapshot(answered);
  }

  /** Every Authorization header received. */
  public List<String> authorizations() {
    return List.copyOf(authorizations);
  }

  private static Map<String, Integer> snapshot(Map<String, AtomicInteger> m) {
    Map<String, Integer> out = new java.util.TreeMap<>();
    m.forEach((k, v) -> out.put(k, v.get()));
    return out;
  }

  private void handle(HttpExchange ex) throws IOException {
    int n = requests.incrementAndGet();
    maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
    counting.set(true);
    try {
      String path = ex.getRequestURI().getPath().substring("/v1/".length());
      String auth = ex.getRequestHeaders().getFirst("Authorization");
      authorizations.add(auth == null ? "" : auth);
      if (!ex.getRequestMethod().equals("POST")
          || !(path.equals("completions") || path.equals("chat/completions"))) {
        send(
            ex,
            404,
            "{\"error\":{\"message\":\"not found\",\"type\":\"invalid_request_error\"}}",
            null);
        return;
      }
      if (requiredKey != null && !("Bearer " + requiredKey).equals(auth)) {
        send(
            ex,
            401,
            "{\"error\":{\"message\":\"bad key\",\"type\":\"authentication_error\"}}",
            null);
        return;
      }
      JsonNode body = JSON.readTree(ex.getRequestBody().readAllBytes());
      String key = keyOf.apply(body);
      received.computeIfAbsent(key, k -> new AtomicInteger()).incrementAndGet();
      Failure f = null;
      synchronized (failures) {
        if (!failures.isEmpty()) {
          f = failures.remove(0);
        }
      }
      if (f != null) {
        send(
            ex,
            f.status(),
            "{\"error\":{\"message\":\"try later\",\"type\":\"server_error\"}}",
            f.retryAfterSeconds());
        return;
      }
      if (n == holdAt) {
        held.countDown();
        try {
          release.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        send(ex, 500, "{\"error\":{\"message\":\"abandoned\",\"type\":\"server_error\"}}", null);
        return;
      }
      String text = rule.apply(path, body);
      Map<String, Object> choice =
          path.equals("completions")
              ? Map.of("index", 0, "text", text, "finish_reason", "stop")
              : Map.of(
                  "index",
                  0,
                  "message",
                  Map.of("role", "assistant", "content", text),
                  "finish_reason",
                  "stop");
      String answer =
          JSON.writeValueAsString(
              Map.of(
                  "id",
                  "cmpl-" + n,
                  "object",
                  path.equals("completions") ? "text_completion" : "chat.completion",
                  "model",
                  body.path("model").asString(""),
                  "choices",
                  List.of(choice)));
      if (send(ex, 200, answer, null)) {
        answered.computeIfAbsent(key, k -> new AtomicInteger()).incrementAndGet();
      }
    } finally {
      stopCounting();
    }
  }

  private void stopCounting() {
    if (counting.get()) {
      counting.set(false);
      inFlight.decrementAndGet();
    }
  }

  private boolean send(HttpExchange ex, int status, String body, Integer retryAfter) {
    stopCounting();
    try {
      byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().set("Content-Type", "application/json");
      if (retryAfter != null) {
        ex.getResponseHeaders().set("Retry-After", retryAfter.toString());
      }
      ex.sendResponseHeaders(status, bytes.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(bytes);
      }
      return true;
    } catch (IOException e) {
      return false; // the client has gone
    } finally {
      ex.close();
    }
  }

  @Override
  public void close() {
    release();
    server.stop(0);
    pool.shutdownNow();
  }
}
