package dev.distill.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import tools.jackson.databind.JsonNode;

/**
 * The service is stopped (SIGTERM) and started again on the same DISTILL_HOME and port while a
 * worker trains: the worker keeps training and buffers its reports. The outage outlasts the lease
 * TTL (6 s), so on restart the lease is lost and the job requeued: the worker delivers the metric
 * points it buffered as late points, stops, and the next attempt resumes from the last registered
 * checkpoint. The job completes with every step reported, and {@code distill follow}, started
 * before the outage, reports the outage, stays attached and exits 0 when the job succeeds.
 */
class ServiceRestartTest {

  static final int MAX_STEPS = 50;
  static final Duration TTL = Duration.ofSeconds(6);
  static final String SPEC =
      """
      {"type": "finetune", "student": "builtin:gemma2-tiny",
       "dataset": {"uri": "builtin:procedural", "num_examples": 400, "max_seq_len": 48},
       "hyperparameters": {"max_steps": 50, "batch_size": 4, "checkpoint_every": 20}}
      """;

  static Cluster cluster;

  @BeforeAll
  static void start() throws Exception {
    cluster = new Cluster(TTL.toSeconds() + "s");
  }

  @AfterAll
  static void stop() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  @Timeout(value = 118, unit = TimeUnit.SECONDS)
  void jobCompletesWithEveryStepAfterTheServiceRestarts() throws Exception {
    String id = cluster.createJob(SPEC);
    cluster.startWorker("w-restart");
    cluster.awaitJob(
        id,
        Duration.ofSeconds(60),
        j -> j.get("latest_metrics") != null && j.get("latest_metrics").has("loss"),
        "reporting loss");

    // a user following the job sees the outage and stays attached
    Cli cli =
        new Cli(
            cluster.home.resolve("cli"),
            Map.of("DISTILL_URL", cluster.base.toString(), "DISTILL_TOKEN", Cluster.ADMIN_TOKEN));
    Cli.Started follow = cli.start("follow", id);
    follow.awaitOutput("status: created", Duration.ofSeconds(30));

    Instant down = Instant.now();
    cluster.stopService();
    // the worker trains on with nobody to report to, past the end of its last extended lease
    Thread.sleep(TTL.plusSeconds(1).toMillis());
    cluster.startService();
    Instant up = Instant.now();

    JsonNode job =
        cluster.awaitStatus(id, Duration.ofSeconds(100), "SUCCEEDED", "FAILED", "CANCELLED");
    List<String> events = Cluster.describe(cluster.events(id));
    assertThat(job.get("status").asString())
        .as("job %s, events %s", job, events)
        .isEqualTo("SUCCEEDED");
    assertThat(job.get("attempts").asInt()).as("the lease expired in the outage").isEqualTo(2);
    assertThat(events)
        .anySatisfy(e -> assertThat(e).contains("RUNNING -> QUEUED", "lease of worker w-restart"));

    TreeMap<Long, Double> loss = cluster.series(id, "loss");
    assertThat(loss.keySet())
        .as(
            "loss steps (events %s; the worker's lease and late-point lines: %s)",
            events, leaseLines(cluster.log("w-restart")))
        .containsExactlyElementsOf(LongStream.rangeClosed(1, MAX_STEPS).boxed().toList());
    // steps that ended in the outage were buffered; the lease was lost, so they went to the service
    // as late points (the next attempt then reported the steps after its resume point again)
    Matcher late =
        Pattern.compile("job " + id + ": (\\d+) late metric points stored")
            .matcher(Files.readString(cluster.log("w-restart")));
    long latePoints = 0;
    while (late.find()) {
      latePoints += Long.parseLong(late.group(1));
    }
    assertThat(latePoints)
        .as("late points stored (down %s, up %s); see %s", down, up, cluster.log("w-restart"))
        .isPositive();
    assertThat(cluster.checkpoints(id).stream().map(c -> c.get("step").asLong())).contains(50L);

    Cli.Result followed = follow.await(Duration.ofSeconds(30));
    assertThat(followed.exit()).as("%s", followed).isZero();
    assertThat(followed.out()).contains("service unreachable, retrying");
    List<String> lines = followed.outLines();
    // the end state, then only the final metrics and the output
    List<String> end =
        lines.stream()
            .filter(l -> !l.startsWith("final metrics: ") && !l.startsWith("output: "))
            .toList();
    assertThat(end.get(end.size() - 1)).as("%s", followed).isEqualTo("SUCCEEDED");
    assertThat(lines.get(lines.size() - 1)).as("%s", followed).startsWith("output: file:");
  }

  /**
   * The worker log's lines about leases, late points, deliveries and checkpoints: what a missing
   * step needs.
   */
  private static List<String> leaseLines(java.nio.file.Path log) throws java.io.IOException {
    return Files.readAllLines(log).stream()
        .filter(
            l ->
                l.contains("lease")
                    || l.contains("late")
                    || l.contains("deliver")
                    || l.contains("checkpoint"))
        .toList();
  }
}
