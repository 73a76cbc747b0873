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
 * A file: model's shape is known only to the worker: it plans the job from the model's config.json
 * before loading anything, and a job larger than its memory fails for good, naming both numbers.
 */
class WorkerMemoryPlanTest {

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
  void aFileModelLargerThanTheWorkerFailsNamingPlanAndWorkerMemory() throws Exception {
    // a 9B-sized config.json and no weights: the worker must refuse before it reads any
    Path model = Files.createTempDirectory("distill-e2e-9b");
    Files.writeString(
        model.resolve("config.json"),
        """
        {"architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "vocab_size": 256000,
         "hidden_size": 3584, "intermediate_size": 14336, "num_hidden_layers": 42,
         "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256}
        """);
    String id =
        cluster.createJob(
            """
            {"type": "finetune", "student": "file:%s",
             "dataset": {"uri": "builtin:procedural", "max_seq_len": 64},
             "hyperparameters": {"max_steps": 2, "batch_size": 1}}
            """
                .formatted(model));
    cluster.startWorker("w-small");

    JsonNode job = cluster.awaitStatus(id, Duration.ofSeconds(90), "SUCCEEDED", "FAILED");

    assertThat(job.get("status").asString()).as("job %s", job).isEqualTo("FAILED");
    assertThat(job.get("retryable").asBoolean()).isFalse();
    // 9.24e9 parameters x 16 bytes (fp32 weights, gradients, AdamW) alone are 141,000 MiB
    assertThat(job.get("failure_reason").asString())
        .containsPattern("memory plan needs 1[0-9]{2},[0-9]{3} MiB \\(fp32, total of ")
        .contains("but this worker has ");
  }
}
