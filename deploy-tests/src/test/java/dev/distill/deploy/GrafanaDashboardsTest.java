package dev.distill.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The chart ships helm/distill/files/grafana/*.json, the files docker-compose's Grafana provisions,
 * as one ConfigMap with the Grafana sidecar's label; and the chart's ServiceMonitors scrape the
 * paths and ports of the one scrape configuration (docker/prometheus/prometheus.yml) that compose's
 * Prometheus and {@code ./distill cluster} use.
 */
class GrafanaDashboardsTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  static Map<String, JsonNode> dashboardFiles() throws IOException {
    Map<String, JsonNode> out = new TreeMap<>();
    try (Stream<Path> files = Files.list(Repo.chart().resolve("files/grafana"))) {
      for (Path f : files.filter(p -> p.toString().endsWith(".json")).toList()) {
        out.put(f.getFileName().toString(), JSON.readTree(f.toFile()));
      }
    }
    return out;
  }

  @Test
  void theDashboardsAreOneConfigMapWithTheSidecarLabel() throws Exception {
    Map<String, JsonNode> files = dashboardFiles();
    assertThat(files.keySet()).containsExactly("jobs.json", "queue.json", "workers.json");
    List<ConfigMap> maps = Rendered.render().all(ConfigMap.class);
    assertThat(maps).hasSize(1);
    ConfigMap cm = maps.get(0);
    assertThat(cm.getMetadata().getName()).isEqualTo("prod-distill-grafana-dashboards");
    assertThat(cm.getMetadata().getLabels())
        .containsEntry("grafana_dashboard", "1")
        .containsEntry("app.kubernetes.io/name", "distill");
    assertThat(cm.getData().keySet()).containsExactlyElementsOf(files.keySet());
    for (Map.Entry<String, JsonNode> f : files.entrySet()) {
      assertThat(JSON.readTree(cm.getData().get(f.getKey())))
          .as(f.getKey())
          .isEqualTo(f.getValue());
    }
    // the API server refuses a ConfigMap over 1 MiB
    assertThat(cm.getData().values().stream().mapToInt(String::length).sum())
        .isLessThan(1024 * 1024);
  }

  @Test
  void theLabelsAndAnnotationsAreValuesAndTheConfigMapCanBeLeftOut() {
    ConfigMap cm =
        Rendered.render(
                Map.of(
                    "metrics.grafanaDashboards.labels.team-dashboards", "yes",
                    "metrics.grafanaDashboards.annotations.grafana_folder", "distill"))
            .all(ConfigMap.class)
            .get(0);
    assertThat(cm.getMetadata().getLabels())
        .containsEntry("team-dashboards", "yes")
        .containsEntry("grafana_dashboard", "1");
    assertThat(cm.getMetadata().getAnnotations()).containsEntry("grafana_folder", "distill");
    assertThat(
            Rendered.render(Map.of("metrics.grafanaDashboards.enabled", false))
                .all(ConfigMap.class))
        .isEmpty();
  }

  /**
   * Every panel, query and variable names its data source through a dashboard variable
   * (${prometheus} or ${postgres}), so that the same file works in compose's Grafana and in any
   * other.
   */
  @Test
  void everyDataSourceIsADashboardVariable() throws Exception {
    for (Map.Entry<String, JsonNode> f : dashboardFiles().entrySet()) {
      List<String> declared = new ArrayList<>();
      f.getValue()
          .path("templating")
          .path("list")
          .forEach(
              v -> {
                if (v.path("type").asText().equals("datasource")) {
                  declared.add("${" + v.path("name").asText() + "}");
                }
              });
      assertThat(declared).as(f.getKey()).isNotEmpty();
      List<JsonNode> refs = new ArrayList<>();
      f.getValue().findParents("datasource").forEach(p -> refs.add(p.get("datasource")));
      assertThat(refs).as(f.getKey()).isNotEmpty();
      for (JsonNode ref : refs) {
        if (ref.isTextual()) {
          continue; // a datasource variable's own "query" is the plugin id, not a reference
        }
        assertThat(declared).as("%s: %s", f.getKey(), ref).contains(ref.path("uid").asText());
      }
    }
  }

  /**
   * The ServiceMonitors and the one scrape configuration cannot drift: same path per component, and
   * the port the ServiceMonitor names is the port the compose target uses.
   */
  @Test
  void theServiceMonitorsScrapeWhatTheScrapeConfigurationScrapes() throws Exception {
    JsonNode config =
        YAML.readTree(Repo.root().resolve("docker/prometheus/prometheus.yml").toFile());
    Map<String, JsonNode> jobs = new TreeMap<>();
    config.path("scrape_configs").forEach(j -> jobs.put(j.path("job_name").asText(), j));
    assertThat(jobs.keySet()).containsExactly("distill-service", "distill-worker");

    Rendered r = Rendered.render(Map.of("metrics.serviceMonitor.enabled", true));
    List<GenericKubernetesResource> monitors = r.kind("ServiceMonitor");
    assertThat(monitors).hasSize(2);
    for (GenericKubernetesResource m : monitors) {
      String component = m.getMetadata().getLabels().get("app.kubernetes.io/component");
      JsonNode job = jobs.get("distill-" + component);
      assertThat(job).as("scrape job for %s", component).isNotNull();
      JsonNode spec = YAML.valueToTree(m.getAdditionalProperties().get("spec"));
      JsonNode endpoint = spec.path("endpoints").get(0);
      assertThat(endpoint.path("path").asText()).isEqualTo(job.path("metrics_path").asText());

      String portName = endpoint.path("port").asText();
      Service svc =
          r.all(Service.class).stream()
              .filter(
                  s ->
                      component.equals(
                          s.getMetadata().getLabels().get("app.kubernetes.io/component")))
              .filter(
                  s -> s.getSpec().getPorts().stream().anyMatch(p -> portName.equals(p.getName())))
              .findFirst()
              .orElseThrow(() -> new AssertionError("no Service with port " + portName));
      ServicePort port =
          svc.getSpec().getPorts().stream()
              .filter(p -> portName.equals(p.getName()))
              .findFirst()
              .orElseThrow();
      assertThat(composePort(job)).as(component).isEqualTo(port.getPort());
    }
  }

  private static int composePort(JsonNode job) {
    JsonNode dns = job.path("dns_sd_configs");
    if (!dns.isEmpty()) {
      return dns.get(0).path("port").asInt();
    }
    String target = job.path("static_configs").get(0).path("targets").get(0).asText();
    return Integer.parseInt(target.substring(target.lastIndexOf(':') + 1));
  }
}
