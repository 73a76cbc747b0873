package dev.distill.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code docker-compose config} (Debian's docker-compose, installed by .ci/run) on the root
 * docker-compose.yml, as a process: it must accept the file, and the resolved model must wire
 * PostgreSQL 16, the service and the workers the way the chart does. No Docker engine is needed or
 * contacted.
 */
class ComposeTest {

  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static JsonNode config;

  record Run(int exit, String out, String err) {}

  static Run compose(Path file, String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of("docker-compose", "-f", file.toString()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(file.getParent().toFile());
    // the file's own defaults, not whatever the developer's shell exports
    pb.environment().keySet().removeIf(k -> k.startsWith("DISTILL_") || k.startsWith("COMPOSE_"));
    Process p;
    try {
      p = pb.start();
    } catch (IOException e) {
      throw new IllegalStateException(
          "docker-compose is not on PATH: install the Debian package docker-compose (.ci/run does)",
          e);
    }
    p.getOutputStream().close();
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IllegalStateException("docker-compose config did not finish in 120 s");
    }
    return new Run(
        p.exitValue(),
        new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8),
        new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
  }

  @BeforeAll
  static void config() throws Exception {
    Run r = compose(Repo.root().resolve("docker-compose.yml"), "config");
    assertThat(r.exit()).as("docker-compose config failed:\n%s", r.err()).isZero();
    config = YAML.readTree(r.out());
  }

  private static JsonNode service(String name) {
    JsonNode s = config.path("services").path(name);
    assertThat(s.isObject()).as("compose service %s in %s", name, config.path("services")).isTrue();
    return s;
  }

  private static List<String> list(JsonNode node) {
    List<String> out = new ArrayList<>();
    node.forEach(n -> out.add(n.asText()));
    return out;
  }

  /** The target of the volume mount whose source is the named volume {@code volume}. */
  private static String mountOf(JsonNode service, String volume) {
    for (JsonNode v : service.path("volumes")) {
      String[] parts = v.isTextual() ? v.asText().split(":") : null;
      String source = parts != null ? parts[0] : v.path("source").asText();
      String target = parts != null ? parts[1] : v.path("target").asText();
      if (volume.equals(source)) {
        return target;
      }
    }
    throw new AssertionError("volume " + volume + " is not mounted in " + service);
  }

  @Test
  void servicesAndVolumesArePresent() {
    assertThat(config.path("services").properties())
        .extracting(e -> e.getKey())
        .contains("postgres", "service", "worker", "worker-token", "prometheus", "grafana");
    assertThat(config.path("volumes").properties())
        .extracting(e -> e.getKey())
        .contains("artifacts", "pgdata");
    assertThat(service("postgres").path("image").asText()).startsWith("postgres:16");
  }

  @Test
  void theServiceAndWorkerMetricsBindEveryInterfaceOfTheirContainer() {
    assertThat(service("service").path("environment").path("DISTILL_ADDRESS").asText())
        .isEqualTo("0.0.0.0");
    List<String> command = list(service("worker").path("command"));
    int i = command.indexOf("--metrics-address");
    assertThat(i).as("--metrics-address in %s", command).isNotNegative();
    assertThat(command.get(i + 1)).isEqualTo("0.0.0.0");
  }

  @Test
  void serviceConnectsToTheComposePostgres() {
    JsonNode env = service("service").path("environment");
    URI jdbc = URI.create(env.path("DISTILL_DB_URL").asText().substring("jdbc:".length()));
    assertThat(jdbc.getHost()).isEqualTo("postgres");
    JsonNode pg = service("postgres").path("environment");
    assertThat(jdbc.getPath()).isEqualTo("/" + pg.path("POSTGRES_DB").asText());
    assertThat(env.path("DISTILL_DB_USER").asText()).isEqualTo(pg.path("POSTGRES_USER").asText());
    assertThat(env.path("DISTILL_DB_PASSWORD").asText())
        .isEqualTo(pg.path("POSTGRES_PASSWORD").asText());
    assertThat(service("service").path("depends_on").path("postgres").path("condition").asText())
        .isEqualTo("service_healthy");
  }

  @Test
  void workersReachTheServiceAndShareTheArtifactVolumeAtTheirStorageRoot() {
    JsonNode worker = service("worker");
    URI url = URI.create(worker.path("environment").path("DISTILL_URL").asText());
    assertThat(url.getHost()).isEqualTo("service");
    assertThat(Integer.toString(url.getPort()))
        .isEqualTo(service("service").path("environment").path("DISTILL_PORT").asText());

    List<String> command = list(worker.path("command"));
    int i = command.indexOf("--storage-root");
    assertThat(i).as("--storage-root in %s", command).isNotNegative();
    assertThat(mountOf(worker, "artifacts")).isEqualTo(command.get(i + 1));

    // the token the one-shot writes is the file the workers read
    String tokenFile = worker.path("environment").path("DISTILL_TOKEN_FILE").asText();
    JsonNode oneShot = service("worker-token");
    assertThat(oneShot.path("environment").path("DISTILL_TOKEN_FILE").asText())
        .isEqualTo(tokenFile);
    assertThat(tokenFile).startsWith(mountOf(worker, "worker-token") + "/");
    assertThat(mountOf(oneShot, "worker-token")).isEqualTo(mountOf(worker, "worker-token"));
  }

  @Test
  void workerStopsGracefullyAndUsesAsManyThreadsAsCpus() {
    JsonNode worker = service("worker");
    String grace = worker.path("stop_grace_period").asText();
    assertThat(grace).matches("[0-9]+s");
    assertThat(Integer.parseInt(grace.replace("s", ""))).isGreaterThanOrEqualTo(120);
    int cpus = (int) Double.parseDouble(worker.path("cpus").asText());
    assertThat(worker.path("environment").path("OMP_NUM_THREADS").asText())
        .isEqualTo(Integer.toString(cpus));
    assertThat(worker.path("environment").path("JAVA_OPTS").asText())
        .contains("-Dai.djl.pytorch.num_threads=" + cpus);
  }

  /**
   * Prometheus loads the one rules file the chart renders as its PrometheusRule, beside its
   * configuration (which names it relatively), and scrapes the paths and ports the service and the
   * workers serve.
   */
  @Test
  void prometheusMountsTheChartsRulesFileBesideItsScrapeConfiguration() throws Exception {
    JsonNode prom = service("prometheus");
    java.util.Map<String, String> binds = new java.util.LinkedHashMap<>();
    for (JsonNode v : prom.path("volumes")) {
      // docker-compose 1.x prints "source:target[:mode]"; a bind's source is an absolute path
      String[] parts = v.isTextual() ? v.asText().split(":") : null;
      String source = parts != null ? parts[0] : v.path("source").asText();
      String target = parts != null ? parts[1] : v.path("target").asText();
      if (source.startsWith("/")) {
        binds.put(Path.of(source).toRealPath().toString(), target);
      }
    }
    Path rules = Repo.chart().resolve("files/prometheus/distill-rules.yml").toRealPath();
    Path scrape = Repo.root().resolve("docker/prometheus/prometheus.yml").toRealPath();
    assertThat(binds).containsKeys(rules.toString(), scrape.toString());
    String configFile =
        list(prom.path("command")).stream()
            .filter(a -> a.startsWith("--config.file="))
            .findFirst()
            .orElseThrow()
            .substring("--config.file=".length());
    assertThat(binds.get(scrape.toString())).isEqualTo(configFile);
    JsonNode config = YAML.readTree(scrape.toFile());
    String ruleFile = config.path("rule_files").get(0).asText();
    assertThat(binds.get(rules.toString()))
        .isEqualTo(Path.of(configFile).resolveSibling(ruleFile).toString());

    List<String> targets = new ArrayList<>();
    config
        .path("scrape_configs")
        .forEach(
            j -> {
              j.path("static_configs")
                  .forEach(
                      c ->
                          c.path("targets")
                              .forEach(
                                  t ->
                                      targets.add(
                                          j.path("metrics_path").asText() + " " + t.asText())));
              j.path("dns_sd_configs")
                  .forEach(
                      c ->
                          c.path("names")
                              .forEach(
                                  n ->
                                      targets.add(
                                          j.path("metrics_path").asText()
                                              + " "
                                              + n.asText()
                                              + ":"
                                              + c.path("port").asText())));
            });
    String serviceTarget =
        "/actuator/prometheus service:"
            + service("service").path("environment").path("DISTILL_PORT").asText();
    List<String> command = list(service("worker").path("command"));
    String workerTarget = "/metrics worker:" + command.get(command.indexOf("--metrics-port") + 1);
    assertThat(targets).containsExactlyInAnyOrder(serviceTarget, workerTarget);
  }

  /** Bind mounts of a service: the real path of the source to the target. */
  private static java.util.Map<String, String> binds(JsonNode service) throws IOException {
    java.util.Map<String, String> binds = new java.util.LinkedHashMap<>();
    for (JsonNode v : service.path("volumes")) {
      String[] parts = v.isTextual() ? v.asText().split(":") : null;
      String source = parts != null ? parts[0] : v.path("source").asText();
      String target = parts != null ? parts[1] : v.path("target").asText();
      if (source.startsWith("/")) {
        binds.put(Path.of(source).toRealPath().toString(), target);
      }
    }
    return binds;
  }

  /**
   * Grafana provisions the chart's dashboard files (the ConfigMap's source) from where its
   * dashboards provider looks, and its data sources are compose's Prometheus and PostgreSQL, the
   * latter as the read-only role with the password the service gives that role.
   */
  @Test
  void grafanaProvisionsTheChartsDashboardsAndReadsPostgresAsTheReadOnlyRole() throws Exception {
    JsonNode grafana = service("grafana");
    java.util.Map<String, String> binds = binds(grafana);
    Path dashboards = Repo.chart().resolve("files/grafana").toRealPath();
    Path provisioning = Repo.root().resolve("docker/grafana/provisioning").toRealPath();
    assertThat(binds).containsEntry(provisioning.toString(), "/etc/grafana/provisioning");
    JsonNode provider =
        YAML.readTree(provisioning.resolve("dashboards/distill.yml").toFile())
            .path("providers")
            .get(0);
    assertThat(binds.get(dashboards.toString()))
        .isEqualTo(provider.path("options").path("path").asText());

    JsonNode sources =
        YAML.readTree(provisioning.resolve("datasources/distill.yml").toFile()).path("datasources");
    java.util.Map<String, JsonNode> byType = new java.util.TreeMap<>();
    sources.forEach(d -> byType.put(d.path("type").asText(), d));
    assertThat(byType).containsOnlyKeys("prometheus", "grafana-postgresql-datasource");

    URI prom = URI.create(byType.get("prometheus").path("url").asText());
    assertThat(prom.getHost()).isEqualTo("prometheus");
    assertThat(prom.getPort()).isEqualTo(9090);
    assertThat(service("prometheus").path("ports").toString()).contains("9090");

    JsonNode pg = byType.get("grafana-postgresql-datasource");
    assertThat(pg.path("url").asText()).isEqualTo("postgres:5432");
    assertThat(pg.path("jsonData").path("database").asText())
        .isEqualTo(service("postgres").path("environment").path("POSTGRES_DB").asText());
    assertThat(pg.path("user").asText()).isEqualTo("distill_reader");
    assertThat(pg.path("secureJsonData").path("password").asText())
        .isEqualTo("${DISTILL_DB_READER_PASSWORD}");
    String password = grafana.path("environment").path("DISTILL_DB_READER_PASSWORD").asText();
    assertThat(password).hasSizeGreaterThanOrEqualTo(12);
    assertThat(service("service").path("environment").path("DISTILL_DB_READER_PASSWORD").asText())
        .isEqualTo(password);
  }

  @Test
  void aBrokenComposeFileFails(@TempDir Path tmp) throws Exception {
    Path bad = tmp.resolve("docker-compose.yml");
    Files.writeString(
        bad, "services:\n  worker:\n    image: distill/worker\n    stop_grace_period: [soon]\n");
    Run r = compose(bad, "config");
    assertThat(r.exit()).isNotZero();
    assertThat(r.err()).contains("stop_grace_period");
  }
}
