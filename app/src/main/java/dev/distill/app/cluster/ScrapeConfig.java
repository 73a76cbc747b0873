package dev.distill.app.cluster;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * The Prometheus configuration of a local cluster: docker-compose's {@code
 * docker/prometheus/prometheus.yml} with only the target addresses changed (compose finds the
 * service and the workers by DNS, a local cluster knows their loopback ports), and optionally a
 * shorter scrape interval. Job names, paths, rule files and everything else stay as the file says,
 * so the topologies cannot drift ({@code ScrapeConfigTest}).
 */
public final class ScrapeConfig {

  /** The scrape jobs of the file, and the ones this class fills in. */
  public static final String SERVICE_JOB = "distill-service";

  public static final String WORKER_JOB = "distill-worker";

  /** How a job finds its targets; replaced by one {@code static_configs}. */
  static final Set<String> DISCOVERY =
      Set.of("static_configs", "dns_sd_configs", "file_sd_configs", "kubernetes_sd_configs");

  private static final ObjectMapper YAML = YAMLMapper.builder().build();

  private final ObjectNode config;

  private ScrapeConfig(ObjectNode config) {
    this.config = config;
  }

  /** Reads the file compose mounts into its Prometheus. */
  public static ScrapeConfig read(Path prometheusYml) throws IOException {
    JsonNode n = YAML.readTree(Files.readString(prometheusYml));
    if (!(n instanceof ObjectNode o)) {
      throw new IOException(prometheusYml + " is not a YAML mapping");
    }
    return new ScrapeConfig(o);
  }

  /**
   * The configuration with the given targets ({@code host:port}) per job name.
   *
   * @param targets every job of the file must be given, and only those
   * @param scrapeInterval null keeps the file's; else the global scrape and evaluation interval
   */
  public String render(Map<String, List<String>> targets, Duration scrapeInterval) {
    ObjectNode out = config.deepCopy();
    JsonNode jobs = out.path("scrape_configs");
    java.util.Set<String> seen = new java.util.TreeSet<>();
    for (JsonNode j : jobs) {
      String name = j.path("job_name").asString();
      List<String> t = targets.get(name);
      if (t == null) {
        throw new IllegalArgumentException("no targets given for scrape job " + name);
      }
      seen.add(name);
      ObjectNode job = (ObjectNode) j;
      job.remove(DISCOVERY);
      ArrayNode list = job.putArray("static_configs").addObject().putArray("targets");
      t.forEach(list::add);
    }
    if (!seen.equals(targets.keySet())) {
      throw new IllegalArgumentException(
          "targets for " + targets.keySet() + " but the file has scrape jobs " + seen);
    }
    if (scrapeInterval != null) {
      ObjectNode global = out.withObjectProperty("global");
      String s = scrapeInterval.toMillis() + "ms";
      global.put("scrape_interval", s);
      global.put("evaluation_interval", s);
    }
    return YAML.writeValueAsString(out);
  }
}
