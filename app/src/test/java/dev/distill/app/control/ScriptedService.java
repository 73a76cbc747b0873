package dev.distill.app.control;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A stand-in of the control plane over real HTTP, for the worker's clients: each route (the last
 * segment of the path: {@code claims}, {@code heartbeat}, {@code events}, ...) answers from a
 * script of canned answers, then with its default. It records every request it received.
 */
public final class ScriptedService implements AutoCloseable {

  /** One canned answer: status, {@code Retry-After} (or null) and a body (or null). */
  public record Answer(int status, String retryAfter, String body) {

    public static Answer ok(String json) {
      return new Answer(200, null, json);
    }

    public static Answer unavailable(String retryAfter) {
      return new Answer(
          503,
          retryAfter,
          "{\"type\": \"https://distill.dev/problems/unavailable\", \"title\": \"Service"
              + " unavailable\", \"status\": 503, \"detail\": \"too many claims wait\"}");
    }
  }

  /** A request received: the route and the body. */
  public record Received(String route, String body) {}

  private final HttpServer server;
  private final Map<String, Deque<Answer>> scripts = new ConcurrentHashMap<>();
  private final Map<String, Answer> defaults = new ConcurrentHashMap<>();
  private final List<Received> received = Collections.synchronizedList(new ArrayList<>());

  public ScriptedService() throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/", this::handle);
    server.start();
  }

  public URI base() {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/");
  }

  /** Answers the next requests of {@code route} with {@code answers}, in order. */
  public ScriptedService script(String route, Answer... answers) {
    scripts.computeIfAbsent(route, r -> new ArrayDeque<>()).addAll(List.of(answers));
    return this;
  }

  /** What {@code route} answers once its script is used up (else 404). */
  public ScriptedService otherwise(String route, Answer answer) {
    defaults.put(route, answer);
    return this;
  }

  public List<Received> received(String route) {
    synchronized (received) {
      return received.stream().filter(r -> r.route().equals(route)).toList();
    }
  }

  private void handle(HttpExchange ex) throws IOException {
    String path = ex.getRequestURI().getPath();
    String route = path.substring(path.lastIndexOf('/') + 1);
    String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
    received.add(new Received(route, body));
    Deque<Answer> script = scripts.get(route);
    Answer a;
    synchronized (this) {
      a = script == null || script.isEmpty() ? null : script.poll();
    }
    if (a == null) {
      a = defaults.getOrDefault(route, new Answer(404, null, null));
    }
    if (a.retryAfter() != null) {
      ex.getResponseHeaders().set("Retry-After", a.retryAfter());
    }
    byte[] bytes = a.body() == null ? new byte[0] : a.body().getBytes(StandardCharsets.UTF_8);
    if (a.body() != null) {
      ex.getResponseHeaders()
          .set("Content-Type", a.status() < 300 ? "application/json" : "application/problem+json");
    }
    ex.sendResponseHeaders(a.status(), bytes.length == 0 ? -1 : bytes.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(bytes);
    }
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
