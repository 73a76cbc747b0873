package dev.distill.service;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.auth.Role;
import dev.distill.service.auth.TokenService;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Base of the service's HTTP tests: one application context (and so one embedded PostgreSQL) per
 * test JVM, shared by every subclass, with its own temporary {@code distill.home}. Each test works
 * in a project of its own ({@link #newProject}) so tests never see each other's jobs.
 */
@SpringBootTest(
    webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
    properties = {
      "distill.admin-token=" + ServiceTest.ADMIN,
      "distill.reaper-interval=1h",
      "distill.claim-poll-interval=30s",
      "distill.max-body-bytes=65536",
      "distill.embedded.durable=false",
      "distill.endpoints=judge=http://127.0.0.1:18000/v1, teacher=https://LLM.example.com/v1/"
    })
public abstract class ServiceTest {

  public static final String ADMIN = "test-admin-token-0123456789";
  protected static final Path HOME;
  protected static final JsonMapper JSON = JsonMapper.builder().build();

  static {
    try {
      // Under target/ (the working directory is the module), so `mvn clean` removes it.
      Path target = Files.createDirectories(Path.of("target"));
      HOME = Files.createTempDirectory(target.toAbsolutePath(), "distill-test-home");
      Files.createDirectories(HOME.resolve("data"));
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  @DynamicPropertySource
  static void home(DynamicPropertyRegistry r) {
    r.add("distill.home", HOME::toString);
    r.add("distill.storage.allowed-roots", () -> HOME.resolve("data").toString());
  }

  @LocalServerPort protected int port;
  @Autowired protected JdbcTemplate jdbc;
  @Autowired private TokenService tokenService;

  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  /** An HTTP answer with its body parsed when it is JSON. */
  public record Resp(int status, HttpResponse<String> raw, JsonNode json) {
    public String header(String name) {
      return raw.headers().firstValue(name).orElse(null);
    }

    public String body() {
      return raw.body();
    }
  }

  protected Resp send(String method, String path, String token, String body, String... headers) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
            .timeout(Duration.ofSeconds(60));
    if (token != null) {
      b.header("Authorization", "Bearer " + token);
    }
    boolean typed = false;
    for (int i = 0; i < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
      typed |= headers[i].equalsIgnoreCase("Content-Type");
    }
    if (body != null && !typed) {
      b.header("Content-Type", "application/json");
    }
    b.method(
        method,
        body == null
            ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofString(body));
    try {
      HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
      String ct = r.headers().firstValue("Content-Type").orElse("");
      JsonNode json = ct.contains("json") && !r.body().isEmpty() ? JSON.readTree(r.body()) : null;
      return new Resp(r.statusCode(), r, json);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  protected Resp get(String path, String token) {
    return send("GET", path, token, null);
  }

  protected Resp post(String path, String token, String body) {
    return send("POST", path, token, body);
  }

  protected Resp post(String path, String token, Object body) {
    return send("POST", path, token, JSON.writeValueAsString(body));
  }

  /** Tokens of a fresh project. */
  public record Project(String name, String member, String viewer, String worker, String admin) {}

  protected Project newProject() {
    String name = "p" + UUID.randomUUID().toString().substring(0, 8);
    return new Project(
        name,
        token(name, "member"),
        token(name, "viewer"),
        token(name, "worker"),
        token(name, "admin"));
  }

  /**
   * A token of any project, issued by the service's own TokenService: over HTTP an admin issues
   * tokens only for its own project, and a fresh project has no admin yet.
   */
  protected String token(String project, String role) {
    return tokenService.create(role + "-" + UUID.randomUUID(), project, Role.parse(role));
  }

  /** The repository root (holds {@code examples/}), found by walking up from the working dir. */
  protected static Path repoRoot() {
    Path p = Path.of("").toAbsolutePath();
    while (p != null && !Files.isDirectory(p.resolve("examples"))) {
      p = p.getParent();
    }
    if (p == null) {
      throw new IllegalStateException(
          "no examples/ directory above " + Path.of("").toAbsolutePath());
    }
    return p;
  }

  protected static String example(String type) {
    try {
      return Files.readString(repoRoot().resolve("examples").resolve(type + ".json"));
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Creates a job from a JSON body and returns its id. */
  protected String createJob(String token, String body) {
    Resp r = post("/v1/jobs", token, body);
    assertThat(r.status()).as(r.body()).isEqualTo(201);
    return r.json().get("id").asString();
  }

  protected String minimal(String type, int priority) {
    return switch (type) {
      case "finetune" ->
          "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"builtin:procedural\"},\"priority\":"
              + priority
              + "}";
      default ->
          "{\"type\":\"distill\",\"teacher\":\"builtin:gemma2-demo-teacher\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"builtin:procedural\"},\"priority\":"
              + priority
              + "}";
    };
  }

  /** A claim body for a CPU worker. */
  protected static Map<String, Object> claimBody(String workerId, int waitSeconds) {
    return Map.of(
        "worker_id",
        workerId,
        "capabilities",
        Map.of("device", "cpu", "memory_mb", 16000),
        "wait_seconds",
        waitSeconds);
  }

  /** A held lease as a worker sees it. */
  public record Lease(String leaseId, long epoch, String jobId, JsonNode body) {
    public String path(String op) {
      return "/v1/worker/leases/" + leaseId + "/" + op;
    }
  }

  /** Claims without waiting; fails the test if nothing was claimable. */
  protected Lease claim(String workerToken, String workerId) {
    Resp r = post("/v1/worker/claims", workerToken, claimBody(workerId, 0));
    assertThat(r.status()).as(r.body()).isEqualTo(200);
    return new Lease(
        r.json().get("lease_id").asString(),
        r.json().get("epoch").asLong(),
        r.json().get("job").get("id").asString(),
        r.json());
  }

  protected JsonNode job(String token, String id) {
    Resp r = get("/v1/jobs/" + id, token);
    assertThat(r.status()).as(r.body()).isEqualTo(200);
    return r.json();
  }
}
