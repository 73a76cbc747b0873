package dev.distill.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.app.demo.LocalProcesses;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import tools.jackson.databind.JsonNode;

/**
 * {@code DistillCli demo --quick} in its own process: the demo's plumbing end to end (service, two
 * workers, seven jobs with the teacher pass, report). About a minute on an idle machine, up to five
 * on two busy cores: the only e2e test above two minutes.
 */
class DemoQuickTest {

  @Test
  @Timeout(value = 480, unit = TimeUnit.SECONDS)
  void quickDemoWritesTheReport() throws Exception {
    Path home = Files.createTempDirectory("distill-e2e-demo-home-");
    Path out = Files.createTempDirectory("distill-e2e-demo-out-");
    List<String> cmd =
        new ArrayList<>(
            List.of(
                LocalProcesses.java(),
                "-Dai.djl.offline=true",
                "-XX:MaxDirectMemorySize=4g",
                "-Xmx2g",
                "-cp",
                System.getProperty("java.class.path"),
                "dev.distill.app.cli.DistillCli",
                "demo",
                "--quick",
                "--home",
                home.toString(),
                "--out",
                out.toString()));
    Path log = out.resolve("demo.log");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.redirectOutput(log.toFile());
    pb.environment().put("DISTILL_SERVICE_JAR", LocalProcesses.serviceJar().toString());
    Process demo = pb.start();
    try {
      assertThat(demo.waitFor(460, TimeUnit.SECONDS)).as("demo finished; see %s", log).isTrue();
    } finally {
      if (demo.isAlive()) {
        LocalProcesses.stop(demo, java.time.Duration.ofSeconds(20));
      }
    }
    assertThat(demo.exitValue()).as("exit code; see %s", log).isZero();

    JsonNode report = Cluster.JSON.readTree(out.resolve("report.json").toFile());
    for (String model : List.of("teacher", "distilled", "baseline")) {
      JsonNode m = report.get(model);
      assertThat(m).as("report.json %s in %s", model, report).isNotNull();
      for (String field : List.of("val_loss", "kl_to_teacher", "exact_match")) {
        assertThat(m.get(field)).as("%s.%s", model, field).isNotNull();
        assertThat(m.get(field).isNumber()).as("%s.%s is a number: %s", model, field, m).isTrue();
      }
      assertThat(m.get("val_loss").asDouble()).isFinite().isPositive();
      assertThat(m.get("exact_match").asDouble()).isBetween(0.0, 1.0);
    }
    // the distilled student trained from a teacher_pass cache, whose size and error are reported
    JsonNode cache = report.get("teacher_cache");
    assertThat(cache).as("report.json teacher_cache in %s", report).isNotNull();
    assertThat(cache.get("bytes").asDouble()).isPositive();
    assertThat(cache.get("bytes_per_position").asDouble()).isPositive();
    assertThat(cache.get("heldout_kl").asDouble()).isFinite().isGreaterThanOrEqualTo(0.0);
    assertThat(cache.get("shards").asInt()).isEqualTo(2);
    JsonNode distilledJob = report.get("distilled");
    assertThat(distilledJob.get("exact_match_prompts").asInt()).isPositive();
    assertThat(report.get("exact_match_gain").get("low95").asDouble())
        .isLessThanOrEqualTo(report.get("exact_match_gain").get("high95").asDouble());
    // two workers
    assertThat(out.resolve("logs/worker-1.log")).isNotEmptyFile();
    assertThat(out.resolve("logs/worker-2.log")).isNotEmptyFile();
    assertThat(Files.readString(out.resolve("report.md")))
        .contains("teacher", "distilled", "baseline")
        .contains("Teacher cache (job ")
        .contains("bytes per position");
    try (var files = Files.list(out)) {
      List<Path> pngs = files.filter(p -> p.toString().endsWith(".png")).toList();
      assertThat(pngs).as("PNG charts in %s", out).isNotEmpty();
      for (Path png : pngs) {
        byte[] head = Files.readAllBytes(png);
        assertThat(head.length).isGreaterThan(8);
        assertThat(head[1]).isEqualTo((byte) 'P');
      }
    }
  }
}
