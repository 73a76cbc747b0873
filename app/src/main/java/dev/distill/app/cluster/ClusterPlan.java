package dev.distill.app.cluster;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * What {@code ./distill cluster} starts.
 *
 * @param home DISTILL_HOME: the embedded PostgreSQL's data, the artifacts, the admin token, and
 *     under {@code cluster/} Prometheus's data and every process's log
 * @param workers how many worker processes (0 or more)
 * @param servicePort the service's HTTP port
 * @param prometheusPort Prometheus's HTTP port
 * @param scrapeInterval null: the scrape configuration's own; else this one
 * @param repoRoot the checkout holding docker/prometheus/prometheus.yml and the chart's rules
 * @param prometheus the Prometheus binary (Debian's {@code /usr/bin/prometheus})
 */
public record ClusterPlan(
    Path home,
    int workers,
    int servicePort,
    int prometheusPort,
    Duration scrapeInterval,
    Path repoRoot,
    Path prometheus) {

  public static final Path DEBIAN_PROMETHEUS = Path.of("/usr/bin/prometheus");

  public ClusterPlan {
    if (home == null) {
      throw new IllegalArgumentException("home is required");
    }
    home = home.toAbsolutePath().normalize();
    if (workers < 0) {
      throw new IllegalArgumentException("--workers must be 0 or more, was " + workers);
    }
    port("--port", servicePort);
    port("--prometheus-port", prometheusPort);
    if (servicePort == prometheusPort) {
      throw new IllegalArgumentException("--port and --prometheus-port are both " + servicePort);
    }
    if (scrapeInterval != null && (scrapeInterval.isNegative() || scrapeInterval.isZero())) {
      throw new IllegalArgumentException(
          "--scrape-interval must be positive, was " + scrapeInterval);
    }
    if (repoRoot == null || !Files.isRegularFile(repoRoot.resolve(ClusterFiles.SCRAPE_CONFIG))) {
      throw new IllegalArgumentException(
          "no " + ClusterFiles.SCRAPE_CONFIG + " under " + repoRoot + " (run from the checkout)");
    }
    if (prometheus == null || !Files.isExecutable(prometheus)) {
      throw new IllegalArgumentException(
          "Prometheus is not at "
              + prometheus
              + ": install the Debian package prometheus (.ci/run does)");
    }
  }

  private static void port(String name, int p) {
    if (p < 1 || p > 65535) {
      throw new IllegalArgumentException(name + " must be 1..65535, was " + p);
    }
  }

  /** Where this cluster keeps Prometheus's configuration, its data and the logs. */
  public Path clusterDir() {
    return home.resolve("cluster");
  }
}
