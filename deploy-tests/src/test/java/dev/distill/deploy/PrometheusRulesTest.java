package dev.distill.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The alert rules (helm/distill/files/prometheus/distill-rules.yml) through Debian's promtool as a
 * process ({@code check rules}, {@code test rules} with distill-rules.test.yml, {@code check
 * config} on compose's Prometheus configuration), and the chart's PrometheusRule carrying the same
 * groups. promtool is required, never skipped: .ci/run installs the Debian package prometheus.
 */
class PrometheusRulesTest {

  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final Path PROMTOOL = Path.of("/usr/bin/promtool");

  static Path rulesDir() {
    return Repo.chart().resolve("files/prometheus");
  }

  record Run(int exit, String out) {}

  static Run promtool(Path dir, String... args) throws Exception {
    assertThat(Files.isExecutable(PROMTOOL))
        .as("promtool is required (Debian package prometheus; .ci/run installs it)")
        .isTrue();
    List<String> cmd = new ArrayList<>(List.of(PROMTOOL.toString()));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IllegalStateException("promtool " + args[0] + " did not finish in 120 s");
    }
    return new Run(p.exitValue(), out);
  }

  static List<String> alertNames(JsonNode rules) {
    List<String> names = new ArrayList<>();
    rules
        .path("groups")
        .forEach(g -> g.path("rules").forEach(r -> names.add(r.path("alert").asText())));
    return names;
  }

  @Test
  void promtoolAcceptsTheRules() throws Exception {
    Run r = promtool(rulesDir(), "check", "rules", "distill-rules.yml");
    assertThat(r.exit()).as(r.out()).isZero();
    assertThat(r.out()).contains("SUCCESS: 5 rules found");
  }

  @Test
  void everyAlertIsUnitTestedFiringAndNotFiringAndTheTestsPass() throws Exception {
    JsonNode rules = YAML.readTree(rulesDir().resolve("distill-rules.yml").toFile());
    assertThat(alertNames(rules))
        .containsExactlyInAnyOrder(
            "DistillQueueStuck",
            "DistillNoActiveWorkers",
            "DistillLeaseExpirations",
            "DistillJobFailureRate",
            "DistillWorkerReportRetries");
    JsonNode tests = YAML.readTree(rulesDir().resolve("distill-rules.test.yml").toFile());
    Set<String> firing = new TreeSet<>();
    Set<String> silent = new TreeSet<>();
    tests
        .path("tests")
        .forEach(
            t ->
                t.path("alert_rule_test")
                    .forEach(
                        a ->
                            (a.path("exp_alerts").isEmpty() ? silent : firing)
                                .add(a.path("alertname").asText())));
    assertThat(firing)
        .as("alerts tested firing")
        .containsExactlyInAnyOrderElementsOf(alertNames(rules));
    assertThat(silent)
        .as("alerts tested not firing")
        .containsExactlyInAnyOrderElementsOf(alertNames(rules));

    Run r = promtool(rulesDir(), "test", "rules", "distill-rules.test.yml");
    assertThat(r.exit()).as(r.out()).isZero();
    assertThat(r.out()).contains("SUCCESS");
  }

  /**
   * The unit tests have teeth: a wrong threshold in one expression fails them, naming the alert.
   */
  @Test
  void aBrokenExpressionFailsTheUnitTests(@TempDir Path tmp) throws Exception {
    String rules = Files.readString(rulesDir().resolve("distill-rules.yml"));
    String broken =
        rules.replace(
            "increase(distill_lease_expirations_total[30m])) > 2",
            "increase(distill_lease_expirations_total[30m])) > 20");
    assertThat(broken).isNotEqualTo(rules);
    Files.writeString(tmp.resolve("distill-rules.yml"), broken);
    Files.copy(rulesDir().resolve("distill-rules.test.yml"), tmp.resolve("distill-rules.test.yml"));
    Run r = promtool(tmp, "test", "rules", "distill-rules.test.yml");
    assertThat(r.exit()).as(r.out()).isNotZero();
    assertThat(r.out()).contains("FAILED").contains("DistillLeaseExpirations");
  }

  /**
   * Compose's Prometheus configuration, with the rules file where compose mounts it (beside it).
   */
  @Test
  void composePrometheusConfigurationLoadsTheRules(@TempDir Path tmp) throws Exception {
    Files.copy(
        Repo.root().resolve("docker/prometheus/prometheus.yml"), tmp.resolve("prometheus.yml"));
    Files.copy(rulesDir().resolve("distill-rules.yml"), tmp.resolve("distill-rules.yml"));
    Run r = promtool(tmp, "check", "config", "prometheus.yml");
    assertThat(r.exit()).as(r.out()).isZero();
    assertThat(r.out()).contains("SUCCESS: 1 rule files found").contains("SUCCESS: 5 rules found");
  }

  @Test
  void theChartsPrometheusRuleCarriesTheSameGroupsAndIsOffByDefault() throws Exception {
    assertThat(Rendered.render().kind("PrometheusRule")).isEmpty();
    Rendered r =
        Rendered.render(
            Map.of(
                "metrics.prometheusRule.enabled",
                true,
                "metrics.prometheusRule.labels.release",
                "kube-prometheus-stack"));
    List<GenericKubernetesResource> found = r.kind("PrometheusRule");
    assertThat(found).hasSize(1);
    GenericKubernetesResource rule = found.get(0);
    assertThat(rule.getApiVersion()).isEqualTo("monitoring.coreos.com/v1");
    assertThat(rule.getMetadata().getLabels()).containsEntry("release", "kube-prometheus-stack");
    JsonNode spec = YAML.valueToTree(rule.getAdditionalProperties().get("spec"));
    JsonNode file = YAML.readTree(rulesDir().resolve("distill-rules.yml").toFile());
    assertThat(spec.path("groups")).isEqualTo(file.path("groups"));
    assertThat(spec.properties()).extracting(Map.Entry::getKey).containsExactly("groups");
  }
}
