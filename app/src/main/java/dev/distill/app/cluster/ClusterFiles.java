package dev.distill.app.cluster;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The checkout's files a local cluster uses: the one scrape configuration and the one rules file.
 */
public final class ClusterFiles {

  /** docker-compose's Prometheus configuration. */
  public static final Path SCRAPE_CONFIG = Path.of("docker/prometheus/prometheus.yml");

  /** The alert rules (the chart's PrometheusRule, compose's rules file). */
  public static final Path RULES = Path.of("helm/distill/files/prometheus/distill-rules.yml");

  private ClusterFiles() {}

  /**
   * The checkout: system property {@code distill.repo.root}, else the directory of the {@code
   * ./distill} launcher (DISTILL_LAUNCHER), else the first directory upwards from the working
   * directory that holds {@link #SCRAPE_CONFIG}; null when none does.
   */
  public static Path repoRoot() {
    String prop = System.getProperty("distill.repo.root");
    if (prop != null && Files.isRegularFile(Path.of(prop).resolve(SCRAPE_CONFIG))) {
      return Path.of(prop).toAbsolutePath().normalize();
    }
    String launcher = System.getenv("DISTILL_LAUNCHER");
    if (launcher != null && !launcher.isBlank()) {
      Path dir = Path.of(launcher).toAbsolutePath().getParent();
      if (dir != null && Files.isRegularFile(dir.resolve(SCRAPE_CONFIG))) {
        return dir;
      }
    }
    for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
      if (Files.isRegularFile(d.resolve(SCRAPE_CONFIG))) {
        return d;
      }
    }
    return null;
  }
}
