package dev.distill.app.cluster;

import dev.distill.app.control.ApiClient;
import dev.distill.app.control.TokensClient;
import dev.distill.app.demo.LocalProcesses;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;

/**
 * A local cluster: the service with its embedded PostgreSQL (durable, under DISTILL_HOME), N
 * workers and Prometheus, each its own process in a session of its own, started in that order and
 * stopped in the reverse one (workers first, so that each checkpoints its job and releases its
 * lease while the service still answers). Prometheus scrapes with {@link ScrapeConfig} (compose's
 * file, loopback targets) and loads the chart's alert rules. Everything lives in DISTILL_HOME, so a
 * cluster started again on the same home finds the jobs, checkpoints and series of the last one.
 */
public final class LocalCluster implements AutoCloseable {

  /** The worker tokens a cluster makes carry this name; each start revokes the earlier ones. */
  static final String WORKER_TOKEN_NAME = "cluster-workers";

  /** A worker checkpoints and releases within 120 s of SIGTERM; then SIGKILL. */
  static final Duration GRACE = Duration.ofSeconds(150);

  private final ClusterPlan plan;
  private final LocalProcesses processes;
  private final Map<String, Process> byName = new LinkedHashMap<>();
  private final List<String> workerIds = new ArrayList<>();
  private final List<URI> workerMetrics = new ArrayList<>();
  private final URI serviceUrl;
  private final URI prometheusUrl;
  private String adminToken;
  private String readerPassword;
  private int postgresPort;
  private volatile boolean stopping;

  private LocalCluster(ClusterPlan plan) throws IOException {
    this.plan = plan;
    // Ctrl-C: LocalProcesses' own hook stops the processes in order; their exits are expected then
    Runtime.getRuntime().addShutdownHook(new Thread(() -> stopping = true, "cluster-stopping"));
    this.processes = new LocalProcesses(plan.clusterDir().resolve("logs"), GRACE, true);
    this.serviceUrl = URI.create("http://127.0.0.1:" + plan.servicePort() + "/");
    this.prometheusUrl = URI.create("http://127.0.0.1:" + plan.prometheusPort() + "/");
  }

  /** Starts everything and waits until each part answers; stops what started if one fails. */
  public static LocalCluster start(ClusterPlan plan, PrintWriter out) throws Exception {
    LocalCluster c = new LocalCluster(plan);
    try {
      c.startService(out);
      c.startWorkers();
      c.startPrometheus();
      return c;
    } catch (Exception | Error e) {
      c.close();
      throw e;
    }
  }

  private void startService(PrintWriter out) throws Exception {
    Files.createDirectories(plan.home().resolve("data").resolve("artifacts"));
    readerPassword = secret(plan.home().resolve("reader-password"));
    out.println("starting the service (DISTILL_HOME=" + plan.home() + ") ...");
    out.flush();
    Process service =
        processes.startService(
            plan.home(), plan.servicePort(), Map.of("DISTILL_DB_READER_PASSWORD", readerPassword));
    byName.put("service", service);
    LocalProcesses.awaitHttpOk(
        serviceUrl.resolve("actuator/health/readiness"),
        Duration.ofMinutes(3),
        service,
        processes.log("service"));
    adminToken = adminToken(plan.home());
    postgresPort = postmasterPort(plan.home().resolve("pg"));
  }

  private void startWorkers() throws Exception {
    TokensClient tokens = new TokensClient(new ApiClient(serviceUrl, adminToken));
    for (JsonNode t : tokens.list().path("items")) {
      if (WORKER_TOKEN_NAME.equals(t.path("name").asString())) {
        tokens.revoke(t.path("id").asString());
      }
    }
    String workerToken =
        tokens.create(WORKER_TOKEN_NAME, "worker", "default", null).path("token").asString();
    for (int i = 1; i <= plan.workers(); i++) {
      String id = "cluster-worker-" + i;
      int metricsPort = LocalProcesses.freePort();
      Process p =
          processes.startWorker(
              id,
              List.of(
                  "--url",
                  serviceUrl.toString(),
                  "--storage-root",
                  plan.home().resolve("data").resolve("artifacts").toString(),
                  "--metrics-port",
                  Integer.toString(metricsPort),
                  "--id",
                  id),
              Map.of("DISTILL_TOKEN", workerToken));
      byName.put(id, p);
      workerIds.add(id);
      workerMetrics.add(URI.create("http://127.0.0.1:" + metricsPort + "/metrics"));
    }
    for (int i = 0; i < workerIds.size(); i++) {
      String id = workerIds.get(i);
      LocalProcesses.awaitHttpOk(
          workerMetrics.get(i), Duration.ofMinutes(2), byName.get(id), processes.log(id));
    }
  }

  private void startPrometheus() throws Exception {
    Path dir = Files.createDirectories(plan.clusterDir().resolve("prometheus"));
    Map<String, List<String>> targets = new LinkedHashMap<>();
    targets.put(ScrapeConfig.SERVICE_JOB, List.of(hostPort(serviceUrl)));
    targets.put(
        ScrapeConfig.WORKER_JOB, workerMetrics.stream().map(LocalCluster::hostPort).toList());
    String config =
        ScrapeConfig.read(plan.repoRoot().resolve(ClusterFiles.SCRAPE_CONFIG))
            .render(targets, plan.scrapeInterval());
    // the configuration names its rules file relatively, as compose mounts it beside
    Files.writeString(dir.resolve("prometheus.yml"), config);
    Files.copy(
        plan.repoRoot().resolve(ClusterFiles.RULES),
        dir.resolve(ClusterFiles.RULES.getFileName()),
        StandardCopyOption.REPLACE_EXISTING);
    Process p =
        processes.start(
            "prometheus",
            List.of(
                plan.prometheus().toString(),
                "--config.file=" + dir.resolve("prometheus.yml"),
                "--storage.tsdb.path=" + dir.resolve("data"),
                "--web.listen-address=" + hostPort(prometheusUrl)),
            Map.of());
    byName.put("prometheus", p);
    LocalProcesses.awaitHttpOk(
        prometheusUrl.resolve("-/ready"), Duration.ofMinutes(1), p, processes.log("prometheus"));
    awaitScraped(1 + workerIds.size(), Duration.ofMinutes(1));
  }

  /**
   * Waits until Prometheus has scraped every target once: it sends its first scrapes only after its
   * discovery settles (about 5 s after ready), and a job that ran before them would show as no
   * change at all, its counters never seen at their starting values.
   */
  private void awaitScraped(int targets, Duration timeout) throws Exception {
    URI up =
        prometheusUrl.resolve(
            "api/v1/query?query="
                + java.net.URLEncoder.encode(
                    "count(up == 1)", java.nio.charset.StandardCharsets.UTF_8));
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    Instant deadline = Instant.now().plus(timeout);
    String last = "";
    while (Instant.now().isBefore(deadline)) {
      last =
          http.send(
                  HttpRequest.newBuilder(up).timeout(Duration.ofSeconds(5)).build(),
                  HttpResponse.BodyHandlers.ofString())
              .body();
      JsonNode result = ApiClient.JSON.readTree(last).path("data").path("result");
      if (!result.isEmpty()
          && Double.parseDouble(result.get(0).path("value").get(1).asString()) >= targets) {
        return;
      }
      Thread.sleep(250);
    }
    throw new IllegalStateException(
        "Prometheus did not scrape all "
            + targets
            + " targets within "
            + timeout
            + " (last answer "
            + last
            + "); see "
            + processes.log("prometheus"));
  }

  /** Prints where everything is. */
  public void printUrls(PrintWriter out) {
    out.println("distill cluster is up (DISTILL_HOME=" + plan.home() + "):");
    out.println("  service     " + serviceUrl + "  (API docs " + serviceUrl + "swagger-ui.html)");
    out.println(
        "  admin token "
            + plan.home().resolve("admin-token")
            + "  (./distill jobs, submit, follow find it)");
    out.println("  prometheus  " + prometheusUrl + "  (alerts " + prometheusUrl + "alerts)");
    for (int i = 0; i < workerIds.size(); i++) {
      out.println("  worker      " + workerIds.get(i) + "  " + workerMetrics.get(i));
    }
    out.println(
        "  postgresql  "
            + (readerJdbcUrl() == null ? "DISTILL_DB_URL" : readerJdbcUrl())
            + "  read-only role distill_reader, password in "
            + plan.home().resolve("reader-password"));
    out.println("  logs        " + plan.clusterDir().resolve("logs"));
    out.println("Ctrl-C stops everything; jobs, checkpoints and metrics stay in " + plan.home());
    out.flush();
  }

  /**
   * Blocks until one process exits on its own and returns a one-line reason (for the command's
   * exit), or until the JVM shuts down (Ctrl-C) and returns null.
   */
  public String awaitExit() throws InterruptedException {
    while (true) {
      if (stopping) {
        return null;
      }
      for (Map.Entry<String, Process> e : byName.entrySet()) {
        if (!e.getValue().isAlive() && !stopping) {
          return e.getKey()
              + " exited with "
              + e.getValue().exitValue()
              + "; see "
              + processes.log(e.getKey());
        }
      }
      Thread.sleep(1000);
    }
  }

  public URI serviceUrl() {
    return serviceUrl;
  }

  public URI prometheusUrl() {
    return prometheusUrl;
  }

  public String adminToken() {
    return adminToken;
  }

  public List<String> workerIds() {
    return List.copyOf(workerIds);
  }

  /**
   * The embedded PostgreSQL (its port changes with every start of the service); null when the
   * service uses a database of its own (DISTILL_DB_URL).
   */
  public String readerJdbcUrl() {
    return postgresPort < 0 ? null : "jdbc:postgresql://127.0.0.1:" + postgresPort + "/postgres";
  }

  public String readerPassword() {
    return readerPassword;
  }

  public Path log(String name) {
    return processes.log(name);
  }

  /** Workers, then Prometheus, then the service (SIGTERM each, SIGKILL after the grace). */
  @Override
  public void close() throws InterruptedException {
    stopping = true;
    processes.close();
  }

  private static String hostPort(URI u) {
    return u.getHost() + ":" + u.getPort();
  }

  /** The file's secret, or a new random one written there (mode 600) on first use. */
  static String secret(Path file) throws IOException {
    if (Files.isRegularFile(file)) {
      String s = Files.readString(file).trim();
      if (!s.isEmpty()) {
        return s;
      }
    }
    byte[] b = new byte[24];
    new SecureRandom().nextBytes(b);
    String s = HexFormat.of().formatHex(b);
    Files.createDirectories(file.toAbsolutePath().getParent());
    Files.deleteIfExists(file);
    Files.createFile(
        file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    Files.writeString(file, s + "\n");
    return s;
  }

  private static String adminToken(Path home) throws IOException {
    String env = System.getenv("DISTILL_ADMIN_TOKEN");
    if (env != null && !env.isBlank()) {
      return env.trim();
    }
    Path file = home.resolve("admin-token");
    if (!Files.isReadable(file)) {
      throw new IllegalStateException(
          "the service wrote no admin token to " + file + "; set DISTILL_ADMIN_TOKEN");
    }
    return Files.readString(file).trim();
  }

  /**
   * The port of the running postmaster: line 4 of {@code postmaster.pid} (PostgreSQL's documented
   * layout of that file).
   */
  static int postmasterPort(Path dataDir) throws IOException {
    if (!Files.isRegularFile(dataDir.resolve("postmaster.pid"))) {
      return -1; // DISTILL_DB_URL names a database of its own: no embedded one
    }
    List<String> lines = Files.readAllLines(dataDir.resolve("postmaster.pid"));
    if (lines.size() < 4) {
      throw new IOException(dataDir.resolve("postmaster.pid") + " has no port line");
    }
    return Integer.parseInt(lines.get(3).trim());
  }
}
