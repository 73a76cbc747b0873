package dev.distill.service;

import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.net.ServerSocket;
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
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The service as a process of its own (a JVM on the test classpath running {@link
 * DistillServiceApplication}, with its embedded PostgreSQL under {@link #home}), so that a test can
 * SIGTERM it, {@code kill -9} it, or {@code kill -9} its PostgreSQL. Output goes to {@code
 * service-<n>.log} in the home.
 */
public final class ServiceProcess implements AutoCloseable {

  public static final String ADMIN = "process-admin-token-0123456789";
  public static final JsonMapper JSON = JsonMapper.builder().build();

  public final Path home;
  public final int port;
  private final List<String> args;
  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private Process process;
  private int starts;

  /**
   * @param args more {@code --name=value} settings, e.g. {@code
   *     --distill.embedded.watchdog-interval=1h}
   */
  public ServiceProcess(String... args) throws IOException {
    Path target = Files.createDirectories(Path.of("target").toAbsolutePath());
    this.home = Files.createTempDirectory(target, "distill-process-");
    this.port = freePort();
    this.args = List.of(args);
  }

  /** Starts the service (again, on the same home and port) and waits until it is ready. */
  public ServiceProcess start() throws Exception {
    starts++;
    String cp =
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    List<String> cmd =
        new ArrayList<>(
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx512m",
                "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC",
                "-cp",
                cp,
                DistillServiceApplication.class.getName(),
                "--distill.home=" + home,
                "--server.port=" + port,
                "--distill.admin-token=" + ADMIN,
                "--spring.datasource.url=",
                "--spring.jmx.enabled=false"));
    cmd.addAll(args);
    process =
        new ProcessBuilder(cmd)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log().toFile()))
            .start();
    Instant deadline = Instant.now().plusSeconds(180);
    while (true) {
      if (!process.isAlive()) {
        fail("the service exited %d while starting; see %s", process.exitValue(), log());
      }
      try {
        if (get("/actuator/health/readiness", null).statusCode() == 200) {
          return this;
        }
      } catch (IOException notYet) {
        // not listening yet
      }
      if (Instant.now().isAfter(deadline)) {
        fail("the service was not ready within 180 s; see %s", log());
      }
      Thread.sleep(250);
    }
  }

  public Path log() {
    return home.resolve("service-" + starts + ".log");
  }

  public Process process() {
    return process;
  }

  /** The running service's thread count, from {@code /proc}. */
  public long threads() throws IOException {
    try (var tasks = Files.list(Path.of("/proc", Long.toString(process.pid()), "task"))) {
      return tasks.count();
    }
  }

  /** The embedded postmaster, from {@code postmaster.pid} in the data directory. */
  public Optional<ProcessHandle> postmaster() throws IOException {
    Path pidFile = home.resolve("pg").resolve("postmaster.pid");
    if (!Files.exists(pidFile)) {
      return Optional.empty();
    }
    long pid = Long.parseLong(Files.readAllLines(pidFile).get(0).trim());
    return ProcessHandle.of(pid).filter(ProcessHandle::isAlive);
  }

  /** {@code kill -9} of the postmaster; waits until it is gone. */
  public long killPostgres() throws Exception {
    ProcessHandle pm = postmaster().orElseThrow(() -> new AssertionError("no postmaster runs"));
    pm.destroyForcibly();
    pm.onExit().get(10, TimeUnit.SECONDS);
    return pm.pid();
  }

  /** {@code kill -9} of the service; waits until it is gone. */
  public void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor(10, TimeUnit.SECONDS);
  }

  /** SIGTERM; returns how long the service took to exit, failing after {@code timeout}. */
  public Duration terminate(Duration timeout) throws InterruptedException {
    long t0 = System.nanoTime();
    process.destroy();
    if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      fail("the service did not exit within %s of SIGTERM; see %s", timeout, log());
    }
    return Duration.ofNanos(System.nanoTime() - t0);
  }

  public HttpResponse<String> get(String path, String token) throws Exception {
    return send("GET", path, token, null, Duration.ofSeconds(60));
  }

  public HttpResponse<String> post(String path, String token, String body) throws Exception {
    return send("POST", path, token, body, Duration.ofSeconds(60));
  }

  public HttpResponse<String> send(
      String method, String path, String token, String body, Duration timeout) throws Exception {
    return http.send(
        request(method, path, token, body, timeout), HttpResponse.BodyHandlers.ofString());
  }

  public HttpRequest request(
      String method, String path, String token, String body, Duration timeout) {
    HttpRequest.Builder b = HttpRequest.newBuilder(uri(path)).timeout(timeout);
    if (token != null) {
      b.header("Authorization", "Bearer " + token);
    }
    if (body != null) {
      b.header("Content-Type", "application/json");
    }
    return b.method(
            method,
            body == null
                ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(body))
        .build();
  }

  public URI uri(String path) {
    return URI.create("http://127.0.0.1:" + port + path);
  }

  public HttpClient http() {
    return http;
  }

  /** A job any test can submit (it never runs: no worker). */
  public static final String JOB =
      "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\","
          + "\"dataset\":{\"uri\":\"builtin:procedural\"}}";

  /** Creates a job as the admin; its id. */
  public String createJob() throws Exception {
    HttpResponse<String> r = post("/v1/jobs", ADMIN, JOB);
    if (r.statusCode() != 201) {
      fail("POST /v1/jobs: %d %s", r.statusCode(), r.body());
    }
    return JSON.readTree(r.body()).get("id").asString();
  }

  /** A token of project default with {@code role}. */
  public String token(String role) throws Exception {
    HttpResponse<String> r =
        post(
            "/v1/tokens",
            ADMIN,
            "{\"name\":\""
                + role
                + "-"
                + System.nanoTime()
                + "\",\"role\":\""
                + role
                + "\","
                + "\"project\":\"default\"}");
    if (r.statusCode() != 201) {
      fail("POST /v1/tokens: %d %s", r.statusCode(), r.body());
    }
    return JSON.readTree(r.body()).get("token").asString();
  }

  public static JsonNode json(HttpResponse<String> r) {
    return JSON.readTree(r.body());
  }

  /** Stops the service (SIGTERM, then SIGKILL) and any postmaster it left. */
  @Override
  public void close() throws Exception {
    if (process != null && process.isAlive()) {
      process.destroy();
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
      }
    }
    Optional<ProcessHandle> pm = postmaster();
    if (pm.isPresent()) {
      pm.get().destroy(); // SIGTERM: smart shutdown, nobody is connected any more
      try {
        pm.get().onExit().get(20, TimeUnit.SECONDS);
      } catch (TimeoutException e) {
        pm.get().destroyForcibly();
      }
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
