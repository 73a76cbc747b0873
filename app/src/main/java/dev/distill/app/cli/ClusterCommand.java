package dev.distill.app.cli;

import dev.distill.app.cluster.ClusterFiles;
import dev.distill.app.cluster.ClusterPlan;
import dev.distill.app.cluster.LocalCluster;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code ./distill cluster}: the service with its embedded PostgreSQL, N workers and Prometheus as
 * local processes until Ctrl-C. The work is in {@code app.cluster.LocalCluster}.
 */
@Command(
    name = "cluster",
    description =
        "Run a local cluster: the service (embedded PostgreSQL), N workers and Prometheus, until"
            + " Ctrl-C. A restart on the same home finds the jobs.")
public final class ClusterCommand implements Callable<Integer> {

  @Spec CommandSpec spec;

  @Option(names = "--workers", description = "Worker processes (default 2).")
  int workers = 2;

  @Option(
      names = "--home",
      description =
          "DISTILL_HOME: database, artifacts, Prometheus data, logs (default ~/.distill).")
  Path home;

  @Option(names = "--port", description = "The service's port (default 8080).")
  int port = 8080;

  @Option(names = "--prometheus-port", description = "Prometheus's port (default 9090).")
  int prometheusPort = 9090;

  @Option(
      names = "--scrape-interval",
      description =
          "Seconds between scrapes (default: docker/prometheus/prometheus.yml's own, 15).")
  Integer scrapeSeconds;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    if (scrapeSeconds != null && scrapeSeconds <= 0) {
      throw new IllegalArgumentException(
          "--scrape-interval must be positive, was " + scrapeSeconds);
    }
    ClusterPlan plan =
        new ClusterPlan(
            home != null ? home : Connection.home(),
            workers,
            port,
            prometheusPort,
            scrapeSeconds == null ? null : Duration.ofSeconds(scrapeSeconds),
            ClusterFiles.repoRoot(),
            ClusterPlan.DEBIAN_PROMETHEUS);
    // Ctrl-C: LocalCluster's processes stop in order from the JVM's shutdown hook
    LocalCluster cluster = LocalCluster.start(plan, out);
    cluster.printUrls(out);
    String why = cluster.awaitExit();
    if (why == null) {
      return 0; // Ctrl-C: the shutdown hook is stopping everything
    }
    cluster.close();
    throw new IllegalStateException(why);
  }
}
