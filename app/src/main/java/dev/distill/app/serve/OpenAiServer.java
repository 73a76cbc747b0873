package dev.distill.app.serve;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * The OpenAI-compatible HTTP API over one {@link ServedModel}: {@code GET /v1/models}, {@code GET
 * /v1/models/{id}}, {@code POST /v1/completions}, {@code POST /v1/chat/completions}. Order of
 * checks: the bearer key (401), the route (404/405), the body (400), the model name (404), then
 * admission: at most {@code maxConcurrency} generation requests are taken, one more is 429 at once.
 * Taken requests generate one at a time (no batching).
 */
public final class OpenAiServer implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(OpenAiServer.class);
  static final int MAX_BODY_BYTES = 8 << 20;

  private final ServedModel model;
  private final ServeOptions options;
  private final Semaphore admission;
  private final HttpServer http;
  private final ExecutorService pool;
  private final long created = System.currentTimeMillis() / 1000;

  private OpenAiServer(ServedModel model, ServeOptions options) throws IOException {
    this.model = model;
    this.options = options;
    this.admission = new Semaphore(options.maxConcurrency());
    this.http = HttpServer.create(new InetSocketAddress(options.host(), options.port()), 64);
    AtomicInteger n = new AtomicInteger();
    // more threads than admitted requests, so that one over the limit is still answered (429)
    this.pool =
        Executors.newFixedThreadPool(
            options.maxConcurrency() + 8,
            r -> {
              Thread t = new Thread(r, "serve-http-" + n.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
    http.setExecutor(pool);
    http.createContext("/", this::handle);
  }

  /**
   * Loads nothing: serves an already loaded model. Starts listening at once.
   *
   * @throws UncheckedIOException when the address cannot be bound
   */
  static OpenAiServer start(ServedModel model, ServeOptions options) {
    try {
      OpenAiServer s = new OpenAiServer(model, options);
      s.http.start();
      return s;
    } catch (IOException e) {
      throw new UncheckedIOException(
          options.host() + ":" + options.port() + ": cannot listen: " + e.getMessage(), e);
    }
  }

  /** The bound address (the real port when 0 was asked). */
  public InetSocketAddress address() {
    return http.getAddress();
  }

  /** Stops listening and waits up to a second for exchanges in progress. */
  @Override
  public void close() {
    http.stop(1);
    pool.shutdownNow();
  }

  private void handle(HttpExchange ex) {
    String method = ex.getRequestMethod();
    String path = ex.getRequestURI().getPath();
    try {
      authorize(ex);
      switch (route(method, path)) {
        case "models" -> writeJson(ex, 200, modelList());
        case "model" -> writeJson(ex, 200, modelCard(path.substring("/v1/models/".length())));
        case "completions" -> completions(ex);
        case "chat" -> chat(ex);
        default -> throw new IllegalStateException(path);
      }
    } catch (OpenAiError e) {
      writeError(ex, e);
    } catch (UncheckedIOException e) {
      log.info("{} {}: client went away: {}", method, path, e.getMessage());
    } catch (RuntimeException e) {
      log.warn("{} {} failed", method, path, e);
      writeError(ex, OpenAiError.internal("generation failed: " + e.getMessage()));
    } finally {
      ex.close();
    }
  }

  private static String route(String method, String path) {
    String name;
    String allowed;
    if (path.equals("/v1/models")) {
      name = "models";
      allowed = "GET";
    } else if (path.startsWith("/v1/models/") && path.length() > "/v1/models/".length()) {
      name = "model";
      allowed = "GET";
    } else if (path.equals("/v1/completions")) {
      name = "completions";
      allowed = "POST";
    } else if (path.equals("/v1/chat/completions")) {
      name = "chat";
      allowed = "POST";
    } else {
      throw OpenAiError.unknownUrl(method, path);
    }
    if (!method.equals(allowed)) {
      throw OpenAiError.methodNotAllowed(method, path, allowed);
    }
    return name;
  }

  /**
   * A configured key must come as {@code Authorization: Bearer <key>}; compared in constant time.
   */
  private void authorize(HttpExchange ex) {
    if (options.apiKey() == null) {
      return;
    }
    String h = ex.getRequestHeaders().getFirst("Authorization");
    if (h == null || !h.regionMatches(true, 0, "Bearer ", 0, 7)) {
      throw OpenAiError.unauthorized(true);
    }
    byte[] given = h.substring(7).trim().getBytes(StandardCharsets.UTF_8);
    if (!MessageDigest.isEqual(given, options.apiKey().getBytes(StandardCharsets.UTF_8))) {
      throw OpenAiError.unauthorized(false);
    }
  }

  private ObjectNode modelList() {
    ObjectNode root = Json.MAPPER.createObjectNode();
    root.put("object", "list");
    root.putArray("data").add(card());
    return root;
  }

  private ObjectNode modelCard(String id) {
    if (!id.equals(model.name())) {
      throw OpenAiError.modelNotFound(id, model.name());
    }
    return card();
  }

  private ObjectNode card() {
    ObjectNode m = Json.MAPPER.createObjectNode();
    m.put("id", model.name());
    m.put("object", "model");
    m.put("created", created);
    m.put("owned_by", "distill");
    m.put("max_model_len", model.contextLength());
    m.put("chat_template", model.template().template().id());
    return m;
  }

  private void completions(HttpExchange ex) throws OpenAiError {
    Requests.Completion req = Requests.completion(readBody(ex));
    requireModel(req.model());
    Completions c = new Completions(model, Completions.Kind.TEXT, req.params());
    List<List<Integer>> prompts = c.encode(req.prompts(), "prompt");
    generate(ex, c, prompts, req.params().stream());
  }

  private void chat(HttpExchange ex) {
    Requests.Chat req = Requests.chat(readBody(ex));
    requireModel(req.model());
    Completions c = new Completions(model, Completions.Kind.CHAT, req.params());
    List<List<Integer>> prompts = c.encode(List.of(model.chatPrompt(req.messages())), "messages");
    generate(ex, c, prompts, req.params().stream());
  }

  private void requireModel(String name) {
    if (!name.equals(model.name())) {
      throw OpenAiError.modelNotFound(name, model.name());
    }
  }

  /**
   * Takes a slot or answers 429, generates, and gives the slot back before the last write: a client
   * that has its whole answer may send the next request at once and find the slot free.
   */
  private void generate(
      HttpExchange ex, Completions c, List<List<Integer>> prompts, boolean stream) {
    if (!admission.tryAcquire()) {
      ex.getResponseHeaders().set("Retry-After", "1");
      throw OpenAiError.busy(options.maxConcurrency());
    }
    boolean held = true;
    try {
      if (!stream) {
        ObjectNode answer = c.complete(prompts);
        admission.release();
        held = false;
        writeJson(ex, 200, answer);
        return;
      }
      ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
      ex.getResponseHeaders().set("Cache-Control", "no-cache");
      sendHeaders(ex, 200, 0); // chunked
      OutputStream out = ex.getResponseBody();
      try {
        c.stream(prompts, chunk -> event(out, Json.MAPPER.writeValueAsString(chunk)));
      } catch (OpenAiError | IllegalStateException e) { // after the headers: an error event
        OpenAiError err = e instanceof OpenAiError o ? o : OpenAiError.internal(e.getMessage());
        event(out, Json.MAPPER.writeValueAsString(err.body()));
      }
      admission.release();
      held = false;
      event(out, "[DONE]");
    } finally {
      if (held) {
        admission.release();
      }
    }
  }

  private static void event(OutputStream out, String data) {
    try {
      out.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
      out.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e); // the client went away: stops the generation
    }
  }

  private static JsonNode readBody(HttpExchange ex) {
    byte[] body;
    try (InputStream in = ex.getRequestBody()) {
      body = in.readNBytes(MAX_BODY_BYTES + 1);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    if (body.length > MAX_BODY_BYTES) {
      throw OpenAiError.tooLarge(MAX_BODY_BYTES);
    }
    try {
      return Json.MAPPER.readTree(body);
    } catch (JacksonException e) {
      throw OpenAiError.invalid(null, "the body is not valid JSON: " + e.getOriginalMessage());
    }
  }

  private static void writeJson(HttpExchange ex, int status, JsonNode body) {
    byte[] bytes = Json.MAPPER.writeValueAsBytes(body);
    ex.getResponseHeaders().set("Content-Type", "application/json");
    sendHeaders(ex, status, bytes.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(bytes);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void writeError(HttpExchange ex, OpenAiError e) {
    if (ex.getResponseCode() != -1) {
      return; // headers already sent (a stream): nothing more can be said
    }
    if (e.status() == 401) {
      ex.getResponseHeaders().set("WWW-Authenticate", "Bearer");
    }
    try {
      writeJson(ex, e.status(), e.body());
    } catch (UncheckedIOException ignored) {
      // the client went away
    }
  }

  private static void sendHeaders(HttpExchange ex, int status, long length) {
    try {
      ex.sendResponseHeaders(status, length);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
