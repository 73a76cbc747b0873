package dev.distill.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import tools.jackson.databind.JsonNode;

/**
 * The service is stopped (SIGTERM) and started again on the same DISTILL_HOME and port while a
 * worker trains: the worker keeps training, buffers its reports, retries, and the job completes
 * with every step reported. The lease TTL (180 s) is longer than the outage (a busy machine may
 * take a minute to restart the service), so the lease survives.
 */
class ServiceRestartTest {

  static final int MAX_STEPS = 50;
  static final String SPEC =
      """
      {"type": "finetune", "student": "builtin:gemma2-tiny",
       "dataset": {"uri": "builtin:procedural", "num_examples": 400, "max_seq_len": 48},
       "hyperparameters": {"max_steps": 50, "batch_size": 4, "checkpoint_every": 20}}
      """;

  static Cluster cluster;

  @BeforeAll
  static void start() throws Exception {
    cluster = new Cluster("180s");
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

    Instant down = Instant.now();
    cluster.stopService();
    Thread.sleep(3000); // the worker trains on with nobody to report to
    cluster.startService();
    Instant up = Instant.now();

    JsonNode job =
        cluster.awaitStatus(id, Duration.ofSeconds(100), "SUCCEEDED", "FAILED", "CANCELLED");
    List<String> events = Cluster.describe(cluster.events(id));
    assertThat(job.get("status").asString())
        .as("job %s, events %s", job, events)
        .isEqualTo("SUCCEEDED");
    assertThat(job.get("attempts").asInt()).as("the lease survived the outage").isEqualTo(1);

    TreeMap<Long, Double> loss = cluster.series(id, "loss");
    assertThat(loss.keySet())
        .as("loss steps")
        .containsExactlyElementsOf(LongStream.rangeClosed(1, MAX_STEPS).boxed().toList());
    // the worker stamps each point when the step ends: some steps ended during the outage, so
    // they were buffered and delivered after the restart
    JsonNode points =
        cluster.get("v1/jobs/" + id + "/metrics?names=loss&limit=1000").get("series").get("loss");
    long duringOutage = 0;
    for (JsonNode p : points) {
      Instant ts = Instant.parse(p.get("ts").asString());
      if (ts.isAfter(down) && ts.isBefore(up)) {
        duringOutage++;
      }
    }
    assertThat(duringOutage).as("steps that ended while the service was down").isPositive();
    assertThat(cluster.checkpoints(id).stream().map(c -> c.get("step").asLong()))
        .contains(20L, 40L, 50L);
  }
}
