package dev.distill.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import tools.jackson.databind.JsonNode;

/**
 * The worker checks file: references again before it opens anything: a worker whose artifact store
 * the service was not told about (so the service accepted the spec) still refuses a dataset inside
 * that store, and the job fails for good naming the field.
 */
class WorkerFileRefTest {

  static Cluster cluster;

  @BeforeAll
  static void start() throws Exception {
    cluster = new Cluster("6s");
  }

  @AfterAll
  static void stop() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void aWorkerRefusesAFileReferenceIntoItsArtifactStore() throws Exception {
    // under /tmp (an allowed root of the service), outside the store the service knows
    Path store = Files.createTempDirectory("distill-e2e-other-store");
    Path data = Files.createDirectories(store.resolve("jobs/someone-elses-job"));
    Files.writeString(
        data.resolve("data.jsonl"), "{\"instruction\":\"a\",\"input\":\"\",\"output\":\"b\"}\n");
    String id =
        cluster.createJob(
            """
            {"type": "finetune", "student": "builtin:gemma2-tiny",
             "dataset": {"uri": "file:%s", "format": "alpaca", "max_seq_len": 32},
             "hyperparameters": {"max_steps": 2, "batch_size": 1}}
            """
                .formatted(data.resolve("data.jsonl")));
    cluster.startWorker("w-other-store", store);

    JsonNode job = cluster.awaitStatus(id, Duration.ofSeconds(90), "SUCCEEDED", "FAILED");

    assertThat(job.get("status").asString()).as("job %s", job).isEqualTo("FAILED");
    assertThat(job.get("retryable").asBoolean()).isFalse();
    assertThat(job.get("failure_reason").asString())
        .contains("dataset.uri", "artifact store", "job:");
  }
}
