package dev.distill.app.worker;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The worker's /metrics over real HTTP: what it measures, and names that promtool accepts. */
class WorkerMetricsTest {

  @Test
  void bindsLoopbackUnlessGivenAnAddress() throws Exception {
    try (WorkerMetrics metrics = new WorkerMetrics("w-1")) {
      metrics.serve(0);
      assertThat(metrics.address().getAddress().isLoopbackAddress()).isTrue();
    }
    try (WorkerMetrics metrics = new WorkerMetrics("w-1")) {
      metrics.serve("0.0.0.0", 0);
      assertThat(metrics.address().getAddress().isAnyLocalAddress()).isTrue();
    }
    WorkerConfig config =
        new WorkerConfig(
            java.net.URI.create("http://localhost:1/"),
            "t",
            "w-1",
            null,
            java.nio.file.Path.of("/tmp"),
            0,
            null,
            1,
            true,
            null);
    assertThat(config.metricsAddress()).isEqualTo("127.0.0.1");
  }

  @Test
  void servesStepTimeSpeedMemoryAndCurrentJobWithPrometheusNames() throws Exception {
    try (WorkerMetrics metrics = new WorkerMetrics("w-1")) {
      int port = metrics.serve(0);
      String jobId = "0b6f1c2e-8a4d-4c1e-9f3a-2d5e7b9c1a04";
      metrics.jobStarted(jobId);
      metrics.step(0.25, 4000, 1000);
      metrics.step(0.5, 2000, 1000);
      String text = scrape(port);
      assertThat(text)
          .contains("distill_worker_busy{worker=\"w-1\"} 1.0")
          .contains("distill_worker_tokens_per_second{worker=\"w-1\"} 2000.0")
          .contains("distill_worker_steps_total{worker=\"w-1\"} 2.0")
          .contains("distill_worker_tokens_total{worker=\"w-1\"} 2000.0")
          .contains("distill_worker_step_seconds_count{worker=\"w-1\"} 2")
          .contains("distill_worker_native_memory_resident_bytes");
      metrics.jobFinished();
      String after = scrape(port);
      assertThat(unboundedLabels(text)).as("series with an unbounded label").isEmpty();
      assertThat(text).doesNotContain(jobId);
      assertThat(after).contains("distill_worker_busy{worker=\"w-1\"} 0.0");

      String ours =
          text.lines()
              .filter(l -> l.startsWith("distill_") || l.matches("# (HELP|TYPE) distill_.*"))
              .collect(Collectors.joining("\n", "", "\n"));
      Path promtool = Path.of("/usr/bin/promtool");
      assertThat(Files.isExecutable(promtool))
          .as("promtool is required (Debian package prometheus; .ci/run installs it)")
          .isTrue();
      Process proc =
          new ProcessBuilder(promtool.toString(), "check", "metrics")
              .redirectErrorStream(true)
              .start();
      proc.getOutputStream().write(ours.getBytes(StandardCharsets.UTF_8));
      proc.getOutputStream().close();
      String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(proc.waitFor()).as(out).isZero();
    }
  }

  private static final java.util.regex.Pattern LABEL =
      java.util.regex.Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");
  private static final java.util.regex.Pattern UUID_LIKE =
      java.util.regex.Pattern.compile(
          "(?i).*[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}.*");

  /**
   * Sample lines of a scrape with a label named job_id or job, or with a UUID-looking value: one
   * series per job would grow without bound (per-job data lives in the service's database).
   */
  static java.util.List<String> unboundedLabels(String scrape) {
    return scrape
        .lines()
        .filter(l -> !l.startsWith("#") && l.contains("{"))
        .filter(
            l -> {
              var m = LABEL.matcher(l.substring(l.indexOf('{'), l.lastIndexOf('}') + 1));
              while (m.find()) {
                String name = m.group(1);
                if (name.equals("job_id")
                    || name.equals("job")
                    || UUID_LIKE.matcher(m.group(2)).matches()) {
                  return true;
                }
              }
              return false;
            })
        .toList();
  }

  @Test
  void theLabelCheckCatchesJobLabelsAndUuidValues() {
    assertThat(
            unboundedLabels(
                String.join(
                    "\n",
                    "# HELP a_total job=\"x\"",
                    "a_total{worker=\"w-1\"} 1.0",
                    "b{job=\"j-1\",worker=\"w-1\"} 1.0",
                    "c{job_id=\"7\"} 1.0",
                    "d{uri=\"/v1/jobs/0B6F1C2E-8A4D-4C1E-9F3A-2D5E7B9C1A04\"} 1.0",
                    "e{jobs=\"3\"} 1.0")))
        .extracting(l -> l.substring(0, 1))
        .containsExactly("b", "c", "d");
  }

  private static String scrape(int port) throws Exception {
    HttpResponse<String> r =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    return r.body();
  }
}
