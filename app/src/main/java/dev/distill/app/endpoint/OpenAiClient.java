package dev.distill.app.endpoint;

import dev.distill.trainer.text.TextAnswer;
import dev.distill.trainer.text.TextModel;
import dev.distill.trainer.text.TextModelException;
import dev.distill.trainer.text.TextRequest;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * A {@link TextModel} on an OpenAI-compatible endpoint: {@code POST <base>/completions} for a raw
 * prompt, {@code POST <base>/chat/completions} for one user message. Per request a timeout; 429,
 * 5xx and I/O failures are retried with exponential backoff and jitter, waiting at least what a
 * {@code Retry-After} header asks (up to {@link Settings#maxWait}); other answers fail at once, as
 * another attempt would get the same. Redirects are never followed (the allow-list names the one
 * base URL). At most {@code concurrency} requests of one job are in flight at once.
 */
public final class OpenAiClient implements TextModel {

  private static final Logger log = LoggerFactory.getLogger(OpenAiClient.class);
  private static final ObjectMapper JSON = JsonMapper.builder().build();

  /**
   * @param connectTimeout to open a connection
   * @param requestTimeout for one whole answer
   * @param retries how many times a retryable failure is retried
   * @param firstBackoff the first wait; it doubles up to {@code maxWait}
   * @param maxWait the longest wait between tries, also for a {@code Retry-After}
   */
  public record Settings(
      Duration connectTimeout,
      Duration requestTimeout,
      int retries,
      Duration firstBackoff,
      Duration maxWait) {
    public static Settings defaults() {
      return new Settings(
          Duration.ofSeconds(10),
          Duration.ofSeconds(300),
          8,
          Duration.ofMillis(500),
          Duration.ofSeconds(60));
    }
  }

  private final String name;
  private final URI base;
  private final String model;
  private final String key;
  private final int concurrency;
  private final Settings settings;
  private final Semaphore permits;
  private final HttpClient http;

  /**
   * @param name the endpoint's name in the allow-list, for messages
   * @param canonicalBaseUrl {@code http://host:port/v1}
   * @param model the served model name
   * @param key the bearer key, or null for none
   */
  public OpenAiClient(
      String name,
      String canonicalBaseUrl,
      String model,
      String key,
      int concurrency,
      Settings settings) {
    this.name = name;
    this.base = URI.create(canonicalBaseUrl + "/");
    this.model = model;
    this.key = key;
    this.concurrency = concurrency;
    this.settings = settings;
    this.permits = new Semaphore(concurrency, true);
    this.http =
        HttpClient.newBuilder()
            .connectTimeout(settings.connectTimeout())
            .followRedirects(HttpClient.Redirect.NEVER)
            .version(HttpClient.Version.HTTP_1_1)
            .build();
  }

  @Override
  public TextAnswer complete(TextRequest r) {
    Map<String, Object> body = common(r);
    body.put("prompt", r.prompt());
    JsonNode choice = post("completions", body, r.key());
    return answer(choice, choice.path("text"));
  }

  @Override
  public TextAnswer chat(TextRequest r) {
    Map<String, Object> body = common(r);
    body.put("messages", List.of(Map.of("role", "user", "content", r.prompt())));
    JsonNode choice = post("chat/completions", body, r.key());
    return answer(choice, choice.path("message").path("content"));
  }

  @Override
  public int concurrency() {
    return concurrency;
  }

  private Map<String, Object> common(TextRequest r) {
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("model", model);
    body.put("max_tokens", r.maxTokens());
    body.put("temperature", r.temperature());
    body.put("top_p", r.topP());
    body.put("seed", r.seed());
    if (!r.stop().isEmpty()) {
      body.put("stop", r.stop());
    }
    body.put("n", 1);
    body.put("stream", false);
    return body;
  }

  private static TextAnswer answer(JsonNode choice, JsonNode text) {
    if (!text.isString()) {
      throw new TextModelException(
          "the endpoint's answer has no text: " + abbreviate(choice.toString()));
    }
    long tokens = 0;
    return new TextAnswer(
        text.asString(), "length".equals(choice.path("finish_reason").asString("")), tokens);
  }

  /** The first choice of the answer, after the retries a retryable failure gets. */
  private JsonNode post(String path, Map<String, Object> body, String what) {
    URI uri = base.resolve(path);
    HttpRequest.Builder rb =
        HttpRequest.newBuilder(uri)
            .timeout(settings.requestTimeout())
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
    if (key != null) {
      rb.header("Authorization", "Bearer " + key);
    }
    HttpRequest request = rb.build();
    permits.acquireUninterruptibly();
    try {
      Duration backoff = settings.firstBackoff();
      for (int attempt = 0; ; attempt++) {
        String problem;
        Duration wait = null;
        try {
          HttpResponse<String> resp = http.send(request, HttpResponse.BodyHandlers.ofString());
          int status = resp.statusCode();
          if (status == 200) {
            JsonNode root;
            try {
              root = JSON.readTree(resp.body());
            } catch (RuntimeException e) {
              throw new TextModelException(
                  "endpoint " + name + " answered 200 with no JSON: " + abbreviate(resp.body()));
            }
            JsonNode choices = root.path("choices");
            if (!choices.isArray() || choices.isEmpty()) {
              throw new TextModelException(
                  "endpoint " + name + " answered without choices: " + abbreviate(resp.body()));
            }
            return choices.get(0);
          }
          problem = "answered " + status + ": " + abbreviate(resp.body());
          if (status != 429 && status < 500) {
            // 400, 401, 403, 404...: the same request would be refused again
            throw new IllegalArgumentException(
                "endpoint " + name + " (" + uri + ") " + problem + " (" + what + ")");
          }
          wait = retryAfter(resp.headers().firstValue("Retry-After").orElse(null));
        } catch (IOException e) {
          problem =
              "unreachable: "
                  + e.getClass().getSimpleName()
                  + (e.getMessage() == null ? "" : " " + e.getMessage());
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new TextModelException("interrupted while waiting for endpoint " + name);
        }
        if (attempt >= settings.retries()) {
          throw new TextModelException(
              "endpoint "
                  + name
                  + " ("
                  + uri
                  + ") "
                  + problem
                  + "; gave up after "
                  + (attempt + 1)
                  + " tries ("
                  + what
                  + ")");
        }
        Duration jittered =
            Duration.ofMillis(
                (long) (backoff.toMillis() * (0.5 + ThreadLocalRandom.current().nextDouble() / 2)));
        Duration sleep = wait != null && wait.compareTo(jittered) > 0 ? wait : jittered;
        if (sleep.compareTo(settings.maxWait()) > 0) {
          sleep = settings.maxWait();
        }
        log.info(
            "endpoint {} {} ({}); try {} in {} ms",
            name,
            problem,
            what,
            attempt + 2,
            sleep.toMillis());
        try {
          Thread.sleep(sleep.toMillis());
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new TextModelException("interrupted while waiting for endpoint " + name);
        }
        backoff =
            backoff.multipliedBy(2).compareTo(settings.maxWait()) > 0
                ? settings.maxWait()
                : backoff.multipliedBy(2);
      }
    } finally {
      permits.release();
    }
  }

  /**
   * A {@code Retry-After} in seconds or as an HTTP date; null when absent or unreadable. The one
   * parser of the header: the service's clients ({@code control.ApiClient}) read it here too.
   */
  public static Duration retryAfter(String header) {
    if (header == null || header.isBlank()) {
      return null;
    }
    try {
      return Duration.ofSeconds(Math.max(0, Long.parseLong(header.strip())));
    } catch (NumberFormatException e) {
      try {
        Duration d =
            Duration.between(
                ZonedDateTime.now(),
                ZonedDateTime.parse(header.strip(), DateTimeFormatter.RFC_1123_DATE_TIME));
        return d.isNegative() ? Duration.ZERO : d;
      } catch (RuntimeException e2) {
        return null;
      }
    }
  }

  private static String abbreviate(String s) {
    String one = s == null ? "" : s.replace('\n', ' ');
    return one.length() > 300 ? one.substring(0, 300) + "..." : one;
  }
}
