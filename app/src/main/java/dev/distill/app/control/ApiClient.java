package dev.distill.app.control;

import dev.distill.app.endpoint.OpenAiClient;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.StringJoiner;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * A small JSON client of the service's REST API with bearer-token auth. Responses are {@link
 * JsonNode}s so that the command line shows what the service says without a second copy of its
 * resource classes.
 */
public final class ApiClient {

  public static final ObjectMapper JSON = JsonMapper.builder().build();

  private final URI base;
  private final String token;
  private final HttpClient http;

  /**
   * @param base the service's base URL, for example {@code http://localhost:8080}
   * @param token a bearer token, or null
   */
  public ApiClient(URI base, String token) {
    this.base = base;
    this.token = token;
    this.http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  }

  public URI base() {
    return base;
  }

  public JsonNode get(String path) {
    return send("GET", path, null, Map.of(), Duration.ofSeconds(30));
  }

  public JsonNode post(String path, Object body) {
    return send("POST", path, body, Map.of(), Duration.ofSeconds(30));
  }

  /**
   * Sends a request and returns the JSON body (or an empty object for 204).
   *
   * @param body a {@link String} sent as is, any other object as JSON, or null
   */
  public JsonNode send(
      String method, String path, Object body, Map<String, String> headers, Duration timeout) {
    HttpRequest.Builder req =
        HttpRequest.newBuilder(base.resolve(path))
            .timeout(timeout)
            .header("Accept", "application/json");
    if (token != null && !token.isBlank()) {
      req.header("Authorization", "Bearer " + token);
    }
    headers.forEach(req::header);
    if (body == null) {
      req.method(method, HttpRequest.BodyPublishers.noBody());
    } else {
      String text = body instanceof String s ? s : JSON.writeValueAsString(body);
      req.header("Content-Type", "application/json");
      req.method(method, HttpRequest.BodyPublishers.ofString(text));
    }
    HttpResponse<String> resp;
    try {
      resp = http.send(req.build(), HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      throw new ApiException(
          "cannot reach the service at "
              + base
              + ": "
              + e.getClass().getSimpleName()
              + (e.getMessage() == null ? "" : " " + e.getMessage()),
          e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ApiException("interrupted while calling " + base, e);
    }
    return handle(method, path, resp);
  }

  private static JsonNode handle(String method, String path, HttpResponse<String> resp) {
    int status = resp.statusCode();
    String text = resp.body() == null ? "" : resp.body();
    if (status >= 200 && status < 300) {
      if (status == 204 || text.isBlank()) {
        return JSON.createObjectNode();
      }
      return JSON.readTree(text);
    }
    String type = null;
    String message = "HTTP " + status + " from " + method + " " + path;
    try {
      JsonNode problem = JSON.readTree(text);
      type = problem.path("type").asText(null);
      String title = problem.path("title").asText("");
      String detail = problem.path("detail").asText("");
      StringJoiner fields = new StringJoiner("; ");
      for (JsonNode err : problem.path("errors")) {
        String field = err.path("field").asText("?") + ": " + err.path("message").asText("");
        if (!detail.contains(field)) { // the service often puts them in the detail already
          fields.add(field);
        }
      }
      message =
          "HTTP "
              + status
              + " "
              + (title.isEmpty() ? "" : title)
              + (detail.isEmpty() ? "" : ": " + detail)
              + (fields.length() == 0 ? "" : " [" + fields + "]");
    } catch (RuntimeException notJson) {
      // keep the generic message
    }
    Duration retryAfter =
        status == 429 || status == 503
            ? OpenAiClient.retryAfter(resp.headers().firstValue("Retry-After").orElse(null))
            : null;
    throw new ApiException(status, type, message.replace('\n', ' '), retryAfter);
  }

  /** URL-encodes a query parameter value. */
  public static String q(String value) {
    return URLEncoder.encode(value, StandardCharsets.UTF_8);
  }
}
