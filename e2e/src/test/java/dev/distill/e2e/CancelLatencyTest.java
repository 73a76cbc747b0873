package dev.distill.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import tools.jackson.databind.JsonNode;

/**
 * A cancel reaches a training worker with the answer to its next metric batch, not only at its next
 * heartbeat. With a long lease TTL (180 s) the worker's first heartbeat comes a third of it (60 s)
 * after the claim; the job must end CANCELLED well before that.
 */
class CancelLatencyTest {

  static final Duration TTL = Duration.ofSeconds(180);

  /** Longer than the test: only a cancel ends it. */
  static final String SPEC =
      """
      {"type": "finetune", "student": "builtin:gemma2-tiny",
       "dataset": {"uri": "builtin:procedural", "num_examples": 400, "max_seq_len": 48},
       "hyperparameters": {"max_steps": 5000, "batch_size": 4, "checkpoint_every": 4000}}
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
  @Timeout(value = 110, unit = TimeUnit.SECONDS)
  void cancelIsSeenAtTheNextMetricBatchLongBeforeTheFirstHeartbeat() throws Exception {
    String id = cluster.createJob(SPEC);
    cluster.startWorker("w-cancel-batch");
    JsonNode training =
        cluster.awaitJob(
            id,
            Duration.ofSeconds(60),
            j -> j.get("latest_metrics") != null && j.get("latest_metrics").has("loss"),
            "reporting loss");
    Instant claimed = Instant.parse(training.get("started_at").asString());
    // the worker's heartbeat thread starts after the claim and first beats a third of the TTL later
    Instant firstHeartbeat = claimed.plus(TTL.dividedBy(3));

    Instant cancelAt = Instant.now(); // one machine: the database's clock is this one
    JsonNode cancelling = cluster.cancel(id);
    assertThat(cancelling.get("status").asString()).isEqualTo("CANCELLING");
    assertThat(cancelAt)
        .as("cancel sent with time to spare before the first heartbeat (machine too slow?)")
        .isBefore(firstHeartbeat.minusSeconds(20));

    JsonNode job =
        cluster.awaitStatus(id, Duration.ofSeconds(90), "CANCELLED", "FAILED", "SUCCEEDED");
    assertThat(job.get("status").asString())
        .as("job %s, events %s", job, Cluster.describe(cluster.events(id)))
        .isEqualTo("CANCELLED");
    Instant finished = Instant.parse(job.get("finished_at").asString());
    assertThat(finished)
        .as(
            "ended (claimed %s, cancel %s) before the first heartbeat at %s",
            claimed, cancelAt, firstHeartbeat)
        .isBefore(firstHeartbeat);
  }
}
