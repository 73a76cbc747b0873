package dev.distill.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.app.demo.LocalProcesses;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * Our own {@code distill serve} as the outside endpoint of jobs, on real processes: a worker trains
 * a small "parrot" (gemma2-tiny on four conversations, prompts included, so it writes instructions
 * and ends its turns); {@code serve} answers for it with an API key; a synthesize job whose teacher
 * is that endpoint writes data that a finetune job trains on; an evaluate job whose judge is that
 * endpoint grades a file in chapter 7's format, and the tiny judge's answers, which are not scores,
 * are recorded unscored with their raw text.
 */
class ServeEndpointJobsTest {

  private static final String KEY = "sk-e2e-serve-as-endpoint";

  static int port;
  static Cluster cluster;

  @TempDir Path tmp;

  @BeforeAll
  static void start() throws Exception {
    port = LocalProcesses.freePort();
    cluster =
        new Cluster("15s", Map.of("DISTILL_ENDPOINTS", "ours=http://127.0.0.1:" + port + "/v1"));
  }

  @AfterAll
  static void stop() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
  }

  private static List<JsonNode> lines(Path file) throws Exception {
    List<JsonNode> out = new ArrayList<>();
    for (String l : Files.readAllLines(file)) {
      out.add(Cluster.JSON.readTree(l));
    }
    return out;
  }

  private static Path output(JsonNode job) {
    return Path.of(job.get("output_uri").asString().substring("file:".length()));
  }

  @Test
  @Timeout(value = 30, unit = TimeUnit.MINUTES)
  void serveIsTheTeacherOfASynthesisAndTheJudgeOfAnEvaluation() throws Exception {
    Path data = Files.createTempDirectory("distill-e2e-parrot-").resolve("pairs.jsonl");
    List<String> rows = new ArrayList<>();
    for (int copy = 0; copy < 2; copy++) {
      for (var e : Map.of("Hi", "Hello", "Bye", "See you", "Yes", "No", "Up", "Down").entrySet()) {
        rows.add(
            Cluster.JSON.writeValueAsString(
                Map.of("instruction", e.getKey(), "input", "", "output", e.getValue())));
      }
    }
    Files.write(data, rows);
    String parrot =
        cluster.createJob(
            """
            {"type": "finetune", "student": "builtin:gemma2-tiny",
             "dataset": {"uri": "file:%s", "format": "alpaca", "template": "gemma",
                         "max_seq_len": 64, "validation_fraction": 0.0, "mask_prompt": false,
                         "seed": 7},
             "hyperparameters": {"max_steps": 120, "batch_size": 8, "learning_rate": 0.01,
                                 "checkpoint_every": 1000, "warmup_steps": 0, "seed": 7}}
            """
                .formatted(data));
    cluster.startWorker("w-parrot", Map.of("DISTILL_ENDPOINT_KEY_OURS", KEY));
    JsonNode trained = cluster.awaitStatus(parrot, Duration.ofMinutes(10), "SUCCEEDED", "FAILED");
    assertThat(trained.get("status").asString()).as("%s", trained).isEqualTo("SUCCEEDED");

    Path keyFile = tmp.resolve("api-key");
    Files.writeString(keyFile, KEY + "\n");
    Cli cli =
        new Cli(
            tmp.resolve("cli"),
            Map.of("DISTILL_URL", cluster.base.toString(), "DISTILL_TOKEN", Cluster.ADMIN_TOKEN));
    Cli.Started serve =
        cli.withJvmOptions("-Xmx1g")
            .start(
                "serve",
                "--model",
                "job:" + parrot,
                "--port",
                Integer.toString(port),
                "--name",
                "parrot",
                "--api-key-file",
                keyFile.toString(),
                "--max-concurrency",
                "2");
    try {
      serve.awaitOutput("serving on ", Duration.ofSeconds(120));

      String synth =
          cluster.createJob(
              """
              {"type": "synthesize",
               "teacher": {"uri": "openai:http://127.0.0.1:%d/v1", "model": "parrot",
                           "concurrency": 2},
               "generation": {"num_samples": 8, "max_new_tokens": 24, "temperature": 1.0,
                              "top_p": 0.9, "pre_query_template": "gemma2"}}
              """
                  .formatted(port));
      String finetune =
          cluster.createJob(
              """
              {"type": "finetune", "student": "builtin:gemma2-tiny",
               "dataset": {"uri": "job:%s", "format": "alpaca", "max_seq_len": 48,
                           "validation_fraction": 0},
               "hyperparameters": {"max_steps": 2, "batch_size": 2}}
              """
                  .formatted(synth));
      JsonNode s = cluster.awaitStatus(synth, Duration.ofMinutes(8), "SUCCEEDED", "FAILED");
      assertThat(s.get("status").asString()).as("%s", s).isEqualTo("SUCCEEDED");
      Map<String, String> pairs =
          Map.of("Hi", "Hello", "Bye", "See you", "Yes", "No", "Up", "Down");
      List<JsonNode> written = lines(output(s).resolve("data.jsonl"));
      assertThat(written).isNotEmpty();
      // the parrot, served, asked itself its own questions and answered them
      assertThat(written)
          .anySatisfy(
              r ->
                  assertThat(r.get("output").asString())
                      .isEqualTo(pairs.get(r.get("instruction").asString())));
      JsonNode f = cluster.awaitStatus(finetune, Duration.ofMinutes(8), "SUCCEEDED", "FAILED");
      assertThat(f.get("status").asString()).as("%s", f).isEqualTo("SUCCEEDED");

      Path ch7 = EndpointJobsTest.writeChapter7File();
      String eval =
          cluster.createJob(
              """
              {"type": "evaluate", "student": "builtin:gemma2-tiny",
               "dataset": {"uri": "file:%s", "format": "alpaca", "validation_fraction": 1,
                           "max_seq_len": 96},
               "generation": {"num_samples": 6},
               "judge": {"model": {"uri": "openai:http://127.0.0.1:%d/v1", "model": "parrot",
                                   "concurrency": 2},
                         "responses": "model 1 response", "max_new_tokens": 8}}
              """
                  .formatted(ch7, port));
      JsonNode e = cluster.awaitStatus(eval, Duration.ofMinutes(8), "SUCCEEDED", "FAILED");
      assertThat(e.get("status").asString()).as("%s", e).isEqualTo("SUCCEEDED");
      List<JsonNode> graded = lines(output(e).resolve("generations.jsonl"));
      assertThat(graded).hasSize(6);
      int unscored = 0;
      for (JsonNode row : graded) {
        assertThat(row.get("judge_raw").isString()).as("%s", row).isTrue();
        if (row.get("score").isNull()) {
          unscored++;
          assertThat(row.get("unscored_reason").asString()).isNotBlank();
        }
      }
      // a parrot answers "Hello" and the like, not a score: recorded, unscored, no failure
      assertThat(unscored).isPositive();
      assertThat(Files.exists(output(e).resolve("judge_scores.png"))).isTrue();
      assertThat(Files.readString(cluster.log("w-parrot"))).doesNotContain(KEY);
    } finally {
      serve.process().destroy();
      serve.process().waitFor(30, TimeUnit.SECONDS);
    }
  }
}
