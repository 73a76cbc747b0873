package dev.distill.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import tools.jackson.databind.JsonNode;

/**
 * A finetune job trained by a worker process, then an evaluate job with {@code checkpoints.select:
 * all} over it: the service hands the worker every checkpoint, the worker scores each, and the
 * trained job's checkpoints API marks the one with the lowest val_loss as best.
 */
class BestCheckpointE2eTest {

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
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void theCheckpointWithTheLowestValLossIsMarkedBest() throws Exception {
    String trained =
        cluster.createJob(
            """
            {"type": "finetune", "student": "builtin:gemma2-tiny",
             "dataset": {"uri": "builtin:procedural", "max_seq_len": 48, "num_examples": 200},
             "hyperparameters": {"max_steps": 6, "batch_size": 4, "learning_rate": 0.03,
               "warmup_steps": 0, "checkpoint_every": 2, "keep_checkpoints": 10, "eval_every": 0}}
            """);
    cluster.startWorker("w-best");
    assertThat(
            cluster
                .awaitStatus(trained, Duration.ofSeconds(150), "SUCCEEDED", "FAILED")
                .get("status")
                .asString())
        .isEqualTo("SUCCEEDED");
    String eval =
        cluster.createJob(
            """
            {"type": "evaluate", "student": "job:%s",
             "dataset": {"uri": "builtin:procedural", "max_seq_len": 48, "num_examples": 200},
             "generation": {"num_samples": 2, "max_new_tokens": 4},
             "checkpoints": {"select": "all", "best_by": "val_loss"}}
            """
                .formatted(trained));
    JsonNode done = cluster.awaitStatus(eval, Duration.ofSeconds(150), "SUCCEEDED", "FAILED");
    assertThat(done.get("status").asString()).as("job %s", done).isEqualTo("SUCCEEDED");

    List<JsonNode> checkpoints = cluster.checkpoints(trained);
    List<JsonNode> best = checkpoints.stream().filter(c -> c.get("best").asBoolean()).toList();
    assertThat(best).as("%s", checkpoints).hasSize(1);
    JsonNode winner = best.get(0);
    TreeMap<Long, Double> perCheckpoint = cluster.series(eval, "val_loss");
    assertThat(perCheckpoint.keySet())
        .as("one val_loss per checkpoint step")
        .containsAll(checkpoints.stream().map(c -> c.get("step").asLong()).toList());
    Map.Entry<Long, Double> min =
        perCheckpoint.entrySet().stream().min(Map.Entry.comparingByValue()).orElseThrow();
    assertThat(winner.get("step").asLong()).isEqualTo(min.getKey());
    assertThat(winner.get("best_by").get("metric").asString()).isEqualTo("val_loss");
    assertThat(winner.get("best_by").get("mode").asString()).isEqualTo("min");
    assertThat(winner.get("best_by").get("value").asDouble()).isEqualTo(min.getValue());
    assertThat(winner.get("best_by").get("evaluation").asString()).isEqualTo(eval);
  }
}
