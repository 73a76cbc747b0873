package dev.distill.app.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * A local cluster's Prometheus configuration is compose's file with only the target addresses (and,
 * when asked, the interval) changed, and promtool accepts it with the rules beside it. Together
 * with deploy-tests' ComposeTest (compose mounts that file) and GrafanaDashboardsTest (the chart's
 * ServiceMonitors scrape its paths and ports), the three topologies cannot drift.
 */
class ScrapeConfigTest {

  static final YAMLMapper YAML = YAMLMapper.builder().build();
  static final Map<String, List<String>> TARGETS =
      Map.of(
          ScrapeConfig.SERVICE_JOB, List.of("127.0.0.1:8080"),
          ScrapeConfig.WORKER_JOB, List.of("127.0.0.1:40001", "127.0.0.1:40002"));

  static Path root() {
    Path r = ClusterFiles.repoRoot();
    assertThat(r).as("checkout with " + ClusterFiles.SCRAPE_CONFIG).isNotNull();
    return r;
  }

  /** The configuration with every job's target discovery taken out. */
  static JsonNode withoutTargets(JsonNode config) {
    ObjectNode c = (ObjectNode) config.deepCopy();
    c.path("scrape_configs").forEach(j -> ((ObjectNode) j).remove(ScrapeConfig.DISCOVERY));
    return c;
  }

  @Test
  void onlyTheTargetsDiffer() throws Exception {
    Path file = root().resolve(ClusterFiles.SCRAPE_CONFIG);
    JsonNode source = YAML.readTree(file.toFile());
    JsonNode local = YAML.readTree(ScrapeConfig.read(file).render(TARGETS, null));
    assertThat(withoutTargets(local)).isEqualTo(withoutTargets(source));
    for (JsonNode job : local.path("scrape_configs")) {
      List<String> targets = TARGETS.get(job.path("job_name").asString());
      assertThat(job.path("static_configs").size()).isEqualTo(1);
      assertThat(
              job.path("static_configs")
                  .get(0)
                  .path("targets")
                  .valueStream()
                  .map(JsonNode::asString))
          .containsExactlyElementsOf(targets);
    }
  }

  @Test
  void aShorterIntervalChangesOnlyTheGlobalIntervals() throws Exception {
    Path file = root().resolve(ClusterFiles.SCRAPE_CONFIG);
    JsonNode plain = YAML.readTree(ScrapeConfig.read(file).render(TARGETS, null));
    ObjectNode fast =
        (ObjectNode) YAML.readTree(ScrapeConfig.read(file).render(TARGETS, Duration.ofSeconds(1)));
    assertThat(fast.path("global").path("scrape_interval").asString()).isEqualTo("1000ms");
    assertThat(fast.path("global").path("evaluation_interval").asString()).isEqualTo("1000ms");
    fast.set("global", plain.path("global"));
    assertThat(fast).isEqualTo(plain);
  }

  @Test
  void everyJobOfTheFileNeedsTargetsAndNoOtherJobIsAccepted() throws Exception {
    ScrapeConfig c = ScrapeConfig.read(root().resolve(ClusterFiles.SCRAPE_CONFIG));
    assertThatThrownBy(
            () -> c.render(Map.of(ScrapeConfig.SERVICE_JOB, List.of("127.0.0.1:1")), null))
        .hasMessageContaining("no targets given for scrape job distill-worker");
    assertThatThrownBy(
            () ->
                c.render(
                    Map.of(
                        ScrapeConfig.SERVICE_JOB,
                        List.of(),
                        ScrapeConfig.WORKER_JOB,
                        List.of(),
                        "distill-other",
                        List.of()),
                    null))
        .hasMessageContaining("distill-other");
  }

  @Test
  void promtoolAcceptsTheLocalConfigurationWithTheRulesBesideIt(@TempDir Path tmp)
      throws Exception {
    Files.writeString(
        tmp.resolve("prometheus.yml"),
        ScrapeConfig.read(root().resolve(ClusterFiles.SCRAPE_CONFIG))
            .render(TARGETS, Duration.ofSeconds(1)));
    Files.copy(root().resolve(ClusterFiles.RULES), tmp.resolve("distill-rules.yml"));
    Path promtool = Path.of("/usr/bin/promtool");
    assertThat(Files.isExecutable(promtool))
        .as("promtool is required (Debian package prometheus; .ci/run installs it)")
        .isTrue();
    Process p =
        new ProcessBuilder(promtool.toString(), "check", "config", "prometheus.yml")
            .directory(tmp.toFile())
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor()).as(out).isZero();
    assertThat(out).contains("SUCCESS: 1 rule files found");
  }

  @Test
  void aPlanChecksItselfNamingTheOption(@TempDir Path tmp) {
    assertThatThrownBy(
            () -> new ClusterPlan(tmp, -1, 8080, 9090, null, root(), ClusterPlan.DEBIAN_PROMETHEUS))
        .hasMessage("--workers must be 0 or more, was -1");
    assertThatThrownBy(
            () -> new ClusterPlan(tmp, 2, 9090, 9090, null, root(), ClusterPlan.DEBIAN_PROMETHEUS))
        .hasMessageContaining("--port and --prometheus-port are both 9090");
    assertThatThrownBy(
            () -> new ClusterPlan(tmp, 2, 8080, 9090, null, tmp, ClusterPlan.DEBIAN_PROMETHEUS))
        .hasMessageContaining("docker/prometheus/prometheus.yml");
    assertThatThrownBy(
            () -> new ClusterPlan(tmp, 2, 8080, 9090, null, root(), tmp.resolve("prometheus")))
        .hasMessageContaining("install the Debian package prometheus");
  }
}
