package dev.distill.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.distill.app.demo.LocalProcesses;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * One service process (embedded PostgreSQL in a temporary DISTILL_HOME) plus the worker processes a
 * test starts, and a small admin client of the public REST API. Worker processes share one storage
 * root, as workers on a shared volume would.
 */
final class Cluster implements AutoCloseable {

  static final ObjectMapper JSON = JsonMapper.builder().build();
  static final String ADMIN_TOKEN = "e2e-admin-token-0123456789";

  final Path home;
  final Path storageRoot;
  final int port;
  final URI base;
  private final Map<String, String> serviceEnv;
  private final LocalProcesses processes;
  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private final List<Process> workers = new ArrayList<>();
  private Process service;
  private String workerToken;
  private int serviceStarts;

  /**
   * Starts the service.
   *
   * @param leaseTtl DISTILL_LEASE_TTL, for example {@code 6s}
   */
  Cluster(String leaseTtl) throws Exception {
    home = Files.createTempDirectory("distill-e2e-");
    storageRoot = Files.createDirectories(home.resolve("data").resolve("artifacts"));
    port = LocalProcesses.freePort();
    base = URI.create("http://127.0.0.1:" + port + "/");
    serviceEnv =
        Map.of(
            "DISTILL_ADMIN_TOKEN", ADMIN_TOKEN,
            "DISTILL_LEASE_TTL", leaseTtl,
            "DISTILL_REAPER_INTERVAL", "1s");
    processes = new LocalProcesses(home.resolve("logs"));
    startService();
  }

  /** Starts (or starts again, same home and port) the service and waits until it is ready. */
  void startService() throws Exception {
    serviceStarts++;
    service = processes.startService(home, port, serviceEnv);
    LocalProcesses.awaitHttpOk(
        base.resolve("actuator/health/readiness"),
        Duration.ofSeconds(150),
        service,
        processes.log("service"));
  }

  /** SIGTERM to the service; waits for it to exit. */
  void stopService() throws Exception {
    service.destroy();
    if (!service.waitFor(60, TimeUnit.SECONDS)) {
      fail("the service did not stop within 60 s after SIGTERM; see " + processes.log("service"));
    }
  }

  /** A worker token of project default (created once). */
  String workerToken() throws Exception {
    if (workerToken == null) {
      JsonNode t =
          post("v1/tokens", Map.of("name", "e2e-workers", "role", "worker", "project", "default"));
      workerToken = t.get("token").asString();
    }
    return workerToken;
  }

  /** Starts {@code DistillCli worker} as its own JVM; its log is {@code logs/<id>.log}. */
  Process startWorker(String id) throws Exception {
    return startWorker(id, storageRoot);
  }

  /** A worker whose artifact store is {@code root} (not the one the service was told about). */
  Process startWorker(String id, Path root) throws Exception {
    Process p =
        processes.startWorker(
            id,
            List.of(
                "--url",
                base.toString(),
                "--storage-root",
                root.toString(),
                "--metrics-port",
                "0",
                "--id",
                id,
                "--wait-seconds",
                "3"),
            Map.of("DISTILL_TOKEN", workerToken()));
    workers.add(p);
    return p;
  }

  Path log(String name) {
    return processes.log(name);
  }

  /** Stops every worker this cluster started (SIGTERM, then SIGKILL). */
  void stopWorkers() throws InterruptedException {
    for (Process p : workers) {
      LocalProcesses.stop(p, Duration.ofSeconds(20));
    }
    workers.clear();
  }

  // ---- the public API, as an admin of project default ----

  String createJob(String specJson) throws Exception {
    JsonNode job = send("POST", "v1/jobs", specJson, 201);
    assertThat(job.get("status").asString()).isEqualTo("QUEUED");
    return job.get("id").asString();
  }

  JsonNode job(String id) throws Exception {
    return get("v1/jobs/" + id);
  }

  JsonNode cancel(String id) throws Exception {
    return send("POST", "v1/jobs/" + id + "/cancel", "{}", 200);
  }

  /** Every event of the job, in order. */
  List<JsonNode> events(String id) throws Exception {
    List<JsonNode> out = new ArrayList<>();
    String after = null;
    while (true) {
      JsonNode page =
          get("v1/jobs/" + id + "/events?limit=500" + (after == null ? "" : "&after=" + after));
      page.get("items").forEach(out::add);
      JsonNode next = page.get("next_after");
      if (page.get("items").isEmpty() || next == null || next.isNull()) {
        return out;
      }
      after = next.asString();
    }
  }

  /** The series {@code name}: step to value (every page). */
  TreeMap<Long, Double> series(String id, String name) throws Exception {
    TreeMap<Long, Double> out = new TreeMap<>();
    long after = 0;
    while (true) {
      JsonNode s =
          get("v1/jobs/" + id + "/metrics?names=" + name + "&after_step=" + after + "&limit=1000")
              .get("series")
              .get(name);
      if (s == null || s.isEmpty()) {
        return out;
      }
      for (JsonNode p : s) {
        out.put(p.get("step").asLong(), p.get("value").asDouble());
      }
      long last = out.lastKey();
      if (last <= after) {
        return out;
      }
      after = last;
    }
  }

  List<JsonNode> checkpoints(String id) throws Exception {
    List<JsonNode> out = new ArrayList<>();
    get("v1/jobs/" + id + "/checkpoints").get("items").forEach(out::add);
    return out;
  }

  /** Polls the job until its status is one of {@code statuses}; fails naming the logs otherwise. */
  JsonNode awaitStatus(String id, Duration timeout, String... statuses) throws Exception {
    Set<String> wanted = Set.of(statuses);
    return awaitJob(
        id, timeout, j -> wanted.contains(j.get("status").asString()), wanted.toString());
  }

  JsonNode awaitJob(String id, Duration timeout, Predicate<JsonNode> done, String what)
      throws Exception {
    Instant deadline = Instant.now().plus(timeout);
    JsonNode j = job(id);
    while (!done.test(j)) {
      if (Instant.now().isAfter(deadline)) {
        fail(
            "job %s: not %s within %s; last seen %s; logs in %s",
            id, what, timeout, j, home.resolve("logs"));
      }
      Thread.sleep(200);
      j = job(id);
    }
    return j;
  }

  /** Polls until the job has at least one registered checkpoint; returns them. */
  List<JsonNode> awaitCheckpoint(String id, Duration timeout) throws Exception {
    Instant deadline = Instant.now().plus(timeout);
    List<JsonNode> c = checkpoints(id);
    while (c.isEmpty()) {
      if (Instant.now().isAfter(deadline)) {
        fail("job %s: no checkpoint within %s; job %s; logs in %s", id, timeout, job(id), home);
      }
      Thread.sleep(100);
      c = checkpoints(id);
    }
    return c;
  }

  JsonNode get(String path) throws Exception {
    return send("GET", path, null, 200);
  }

  JsonNode post(String path, Object body) throws Exception {
    return send("POST", path, JSON.writeValueAsString(body), -1);
  }

  private JsonNode send(String method, String path, String body, int expected) throws Exception {
    return send(ADMIN_TOKEN, method, path, body, expected);
  }

  /**
   * A call with {@code token} (a worker's, a viewer's); fails unless the answer is {@code expected}
   * (any 2xx when negative). Returns the body, an empty object when there is none.
   */
  JsonNode send(String token, String method, String path, String body, int expected)
      throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(base.resolve(path))
            .timeout(Duration.ofSeconds(30))
            .header("Authorization", "Bearer " + token)
            .header("Accept", "application/json");
    if (body == null) {
      b.GET();
    } else {
      b.header("Content-Type", "application/json")
          .method(method, HttpRequest.BodyPublishers.ofString(body));
    }
    HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    boolean ok = expected < 0 ? r.statusCode() / 100 == 2 : r.statusCode() == expected;
    if (!ok) {
      throw new IOException(
          method
              + " "
              + path
              + ": HTTP "
              + r.statusCode()
              + " "
              + r.body()
              + " (expected "
              + expected
              + ")");
    }
    return r.body().isEmpty() ? JSON.createObjectNode() : JSON.readTree(r.body());
  }

  /** The event kinds in order, for failure messages. */
  static List<String> describe(List<JsonNode> events) {
    List<String> out = new ArrayList<>();
    for (JsonNode e : events) {
      out.add(
          "#"
              + e.get("attempt")
              + " "
              + e.get("kind").asString()
              + ": "
              + e.get("message").asString());
    }
    return out;
  }

  @Override
  public void close() throws Exception {
    stopWorkers();
    processes.close();
  }
}
