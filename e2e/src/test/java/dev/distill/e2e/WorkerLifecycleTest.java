package dev.distill.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import tools.jackson.databind.JsonNode;

/**
 * The worker process against the real service: a run to success, kill -9 and resume, cancel, and
 * SIGTERM (release without counting an attempt, and resume). One service with a short lease TTL (6
 * s, heartbeats every 2 s) for the class; each test starts and stops its own worker processes.
 */
class WorkerLifecycleTest {

  /** 40 steps of the tiny model, a checkpoint every 10. */
  static final String SPEC =
      """
      {"type": "finetune", "student": "builtin:gemma2-tiny",
       "dataset": {"uri": "builtin:procedural", "num_examples": 400, "max_seq_len": 48},
       "hyperparameters": {"max_steps": 40, "batch_size": 4, "checkpoint_every": 10}}
      """;

  static final int MAX_STEPS = 40;
  static final Duration JOB_TIMEOUT = Duration.ofSeconds(100);

  static Cluster cluster;
  static CompletableFuture<TreeMap<Long, Double>> reference;

  @BeforeAll
  static void start() throws Exception {
    reference = ReferenceRun.start(SPEC); // overlaps the service start
    cluster = new Cluster("6s");
  }

  @AfterAll
  static void stop() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
  }

  @AfterEach
  void stopWorkers() throws InterruptedException {
    cluster.stopWorkers();
  }

  @Test
  @Timeout(value = 110, unit = TimeUnit.SECONDS)
  void jobRunsToSucceededWithCheckpointsEventsAndMetrics() throws Exception {
    String id = cluster.createJob(SPEC);
    cluster.startWorker("w-success");

    JsonNode job = cluster.awaitStatus(id, JOB_TIMEOUT, "SUCCEEDED", "FAILED", "CANCELLED");

    assertThat(job.get("status").asString()).as("job %s", job).isEqualTo("SUCCEEDED");
    assertThat(job.get("attempts").asInt()).isEqualTo(1);
    assertThat(job.get("worker_id").asString()).isEqualTo("w-success");
    TreeMap<Long, Double> loss = cluster.series(id, "loss");
    assertThat(loss.keySet())
        .as("loss steps")
        .containsExactlyElementsOf(LongStream.rangeClosed(1, MAX_STEPS).boxed().toList());
    assertThat(loss.values()).allSatisfy(v -> assertThat(v).isFinite().isPositive());
    assertThat(loss.lastEntry().getValue()).isLessThan(loss.firstEntry().getValue());
    assertThat(job.get("latest_metrics").get("loss").asDouble())
        .isEqualTo(loss.lastEntry().getValue());
    for (String name : List.of("ce", "lr", "grad_norm", "tokens_per_second", "step_seconds")) {
      assertThat(cluster.series(id, name)).as(name).hasSize(MAX_STEPS);
    }
    assertThat(cluster.series(id, "val_loss")).as("val_loss").containsKey((long) MAX_STEPS);

    List<JsonNode> checkpoints = cluster.checkpoints(id);
    // keep_checkpoints 3 (the default): step 10 was pruned, and the worker said so
    assertThat(checkpoints.stream().map(c -> c.get("step").asLong()))
        .as("checkpoint steps")
        .containsExactly(20L, 30L, 40L);
    assertThat(cluster.storageRoot.resolve("jobs").resolve(id).resolve("checkpoints/step-000010"))
        .doesNotExist();
    JsonNode last = checkpoints.stream().filter(c -> c.get("final").asBoolean()).findFirst().get();
    assertThat(last.get("step").asLong()).isEqualTo(MAX_STEPS);
    assertThat(job.get("output_uri").asString()).isEqualTo(last.get("uri").asString());
    Path dir = Path.of(last.get("uri").asString().substring("file:".length()));
    assertThat(dir)
        .isEqualTo(
            cluster.storageRoot.resolve("jobs").resolve(id).resolve("checkpoints/step-000040"));
    assertThat(Files.isDirectory(dir)).as("%s exists", dir).isTrue();
    assertThat(last.get("sha256").asString()).matches("[0-9a-f]{64}");
    assertThat(last.get("size_bytes").asLong()).isPositive();

    List<String> kinds = cluster.events(id).stream().map(e -> e.get("kind").asString()).toList();
    assertThat(kinds).contains("status", "claimed", "started", "finished");
    assertThat(kinds).doesNotContain("resumed");
  }

  @Test
  @Timeout(value = 115, unit = TimeUnit.SECONDS)
  void killedWorkerIsReplacedAndTheJobResumesFromItsLastCheckpoint() throws Exception {
    String id = cluster.createJob(SPEC);
    Process first = cluster.startWorker("w-killed");
    cluster.awaitStatus(id, JOB_TIMEOUT, "RUNNING");
    long registered = cluster.awaitCheckpoint(id, JOB_TIMEOUT).get(0).get("step").asLong();

    first.destroyForcibly();
    assertThat(first.waitFor(20, TimeUnit.SECONDS)).isTrue();
    assertThat(first.toHandle().isAlive()).isFalse();
    assertThat(first.exitValue()).as("128 + SIGKILL").isEqualTo(137);
    JsonNode atKill = cluster.job(id);
    assertThat(atKill.get("status").asString()).as("job %s", atKill).isEqualTo("RUNNING");
    long stepAtKill = cluster.series(id, "loss").lastKey();
    assertThat(stepAtKill).isLessThan(MAX_STEPS);

    cluster.startWorker("w-replacement");
    JsonNode job = cluster.awaitStatus(id, JOB_TIMEOUT, "SUCCEEDED", "FAILED", "CANCELLED");

    List<JsonNode> events = cluster.events(id);
    List<String> described = Cluster.describe(events);
    assertThat(job.get("status").asString())
        .as("job %s, events %s", job, described)
        .isEqualTo("SUCCEEDED");
    assertThat(job.get("attempts").asInt()).isEqualTo(2);
    assertThat(job.get("worker_id").asString()).isEqualTo("w-replacement");
    // the lease expired (no release by the killed worker), then attempt 2 resumed from disk
    assertThat(described)
        .anySatisfy(e -> assertThat(e).contains("RUNNING -> QUEUED", "lease of worker w-killed"));
    JsonNode resumed =
        events.stream()
            .filter(e -> e.get("kind").asString().equals("resumed"))
            .findFirst()
            .orElseThrow(() -> new AssertionError("no resumed event in " + described));
    assertThat(resumed.get("attempt").asInt()).isEqualTo(2);
    long resumedAt = stepOf(resumed.get("message").asString(), "at step (\\d+)");
    assertThat(resumedAt)
        .as("resumed step")
        .isGreaterThanOrEqualTo(registered)
        .isLessThan(MAX_STEPS);
    assertThat(resumedAt % 10).as("a checkpoint step").isZero();
    // attempt 2 reported only steps after the resume point
    assertThat(cluster.checkpoints(id))
        .filteredOn(c -> c.get("attempt").asInt() == 2)
        .allSatisfy(c -> assertThat(c.get("step").asLong()).isGreaterThan(resumedAt));

    TreeMap<Long, Double> loss = cluster.series(id, "loss");
    assertThat(loss.keySet())
        .containsExactlyElementsOf(LongStream.rangeClosed(1, MAX_STEPS).boxed().toList());
    TreeMap<Long, Double> expected = reference.get(100, TimeUnit.SECONDS);
    assertThat(loss.lastEntry().getValue())
        .as("final loss vs. the uninterrupted run")
        .isCloseTo(expected.get((long) MAX_STEPS), within(1e-5));
    for (long s = resumedAt + 1; s <= MAX_STEPS; s++) {
      assertThat(loss.get(s)).as("loss at step %d", s).isCloseTo(expected.get(s), within(1e-5));
    }
  }

  @Test
  @Timeout(value = 110, unit = TimeUnit.SECONDS)
  void cancelStopsTheRunningJobWithinAFewStepsAndCheckpoints() throws Exception {
    String longSpec =
        SPEC.replace("\"max_steps\": 40", "\"max_steps\": 5000")
            .replace("\"checkpoint_every\": 10", "\"checkpoint_every\": 4000");
    String id = cluster.createJob(longSpec);
    cluster.startWorker("w-cancel");
    cluster.awaitJob(
        id,
        JOB_TIMEOUT,
        j -> j.get("latest_metrics") != null && j.get("latest_metrics").has("loss"),
        "reporting loss");
    Thread.sleep(1000);

    TreeMap<Long, Double> seconds = cluster.series(id, "step_seconds");
    long stepAtCancel = seconds.lastKey();
    JsonNode cancelling = cluster.cancel(id);
    assertThat(cancelling.get("status").asString()).isEqualTo("CANCELLING");

    JsonNode job =
        cluster.awaitStatus(id, Duration.ofSeconds(60), "CANCELLED", "FAILED", "SUCCEEDED");
    List<JsonNode> events = cluster.events(id);
    List<String> described = Cluster.describe(events);
    assertThat(job.get("status").asString())
        .as("job %s, events %s", job, described)
        .isEqualTo("CANCELLED");
    JsonNode stopped =
        events.stream()
            .filter(e -> e.get("kind").asString().equals("cancelled"))
            .findFirst()
            .orElseThrow(() -> new AssertionError("no cancelled event in " + described));
    long stopStep = stepOf(stopped.get("message").asString(), "stopped at step (\\d+)");

    // no step after the stop, and the stop step is the one the run was at when it learned
    TreeMap<Long, Double> loss = cluster.series(id, "loss");
    assertThat(loss.lastKey()).as("last reported step").isEqualTo(stopStep);
    assertThat(loss.keySet())
        .containsExactlyElementsOf(LongStream.rangeClosed(1, stopStep).boxed().toList());
    // the worker learns at its next heartbeat (every TTL/3 = 2 s): allow the steps of that period
    // plus a generous slack, measured from this run's own step times
    double stepSeconds = median(seconds.values().stream().mapToDouble(d -> d).sorted().toArray());
    long allowed = 3 + (long) Math.ceil(6.0 / stepSeconds);
    assertThat(stopStep - stepAtCancel)
        .as("steps after the cancel (median step %.3f s)", stepSeconds)
        .isBetween(0L, allowed);
    // the checkpoint written at the stop is registered and on disk
    assertThat(cluster.checkpoints(id).stream().map(c -> c.get("step").asLong()))
        .as("checkpoint steps")
        .contains(stopStep);
    assertThat(
            cluster
                .storageRoot
                .resolve("jobs")
                .resolve(id)
                .resolve(String.format("checkpoints/step-%06d", stopStep)))
        .isDirectory();
  }

  @Test
  @Timeout(value = 115, unit = TimeUnit.SECONDS)
  void sigtermCheckpointsReleasesTheLeaseAndExitsZero() throws Exception {
    String id = cluster.createJob(SPEC);
    Process first = cluster.startWorker("w-sigterm");
    cluster.awaitStatus(id, JOB_TIMEOUT, "RUNNING");
    cluster.awaitCheckpoint(id, JOB_TIMEOUT);

    first.destroy();
    assertThat(first.waitFor(60, TimeUnit.SECONDS)).as("worker exited after SIGTERM").isTrue();
    assertThat(first.exitValue()).as("exit code; see %s", cluster.log("w-sigterm")).isZero();

    JsonNode released = cluster.job(id);
    List<String> described = Cluster.describe(cluster.events(id));
    // released by the worker itself, not reaped after the TTL, and the attempt is not counted
    assertThat(released.get("status").asString())
        .as("job %s, events %s", released, described)
        .isEqualTo("QUEUED");
    assertThat(released.get("attempts").asInt()).as("attempts after the release").isZero();
    assertThat(described)
        .anySatisfy(
            e ->
                assertThat(e)
                    .contains(
                        "RUNNING -> QUEUED", "released by worker w-sigterm: shut down at step"))
        .noneSatisfy(e -> assertThat(e).contains("expired"));
    JsonNode preempted =
        cluster.events(id).stream()
            .filter(e -> e.get("kind").asString().equals("preempted"))
            .findFirst()
            .orElseThrow(() -> new AssertionError("no preempted event in " + described));
    long stopStep = stepOf(preempted.get("message").asString(), "stopped at step (\\d+)");
    assertThat(cluster.series(id, "loss").lastKey()).isEqualTo(stopStep);
    assertThat(cluster.checkpoints(id).stream().map(c -> c.get("step").asLong()))
        .as("the checkpoint written at the stop is registered")
        .contains(stopStep);

    cluster.startWorker("w-after-sigterm");
    JsonNode job = cluster.awaitStatus(id, JOB_TIMEOUT, "SUCCEEDED", "FAILED", "CANCELLED");
    List<JsonNode> events = cluster.events(id);
    assertThat(job.get("status").asString())
        .as("job %s, events %s", job, Cluster.describe(events))
        .isEqualTo("SUCCEEDED");
    assertThat(job.get("attempts").asInt())
        .as("the shutdown did not use up an attempt")
        .isEqualTo(1);
    JsonNode resumed =
        events.stream()
            .filter(e -> e.get("kind").asString().equals("resumed"))
            .findFirst()
            .orElseThrow(() -> new AssertionError("no resumed event"));
    assertThat(stepOf(resumed.get("message").asString(), "at step (\\d+)")).isEqualTo(stopStep);
    TreeMap<Long, Double> loss = cluster.series(id, "loss");
    assertThat(loss.keySet())
        .containsExactlyElementsOf(LongStream.rangeClosed(1, MAX_STEPS).boxed().toList());
    assertThat(loss.lastEntry().getValue())
        .isCloseTo(reference.get(100, TimeUnit.SECONDS).get((long) MAX_STEPS), within(1e-5));
  }

  static long stepOf(String message, String regex) {
    Matcher m = Pattern.compile(regex).matcher(message);
    assertThat(m.find()).as("'%s' in '%s'", regex, message).isTrue();
    return Long.parseLong(m.group(1));
  }

  static double median(double[] sorted) {
    assertThat(sorted).isNotEmpty();
    return sorted[sorted.length / 2];
  }

  /**
   * Three chained jobs through the service: a model trained on four conversations (prompts in the
   * loss), a synthesize job that uses it as its teacher ({@code job:}), and a finetune whose
   * dataset is the synthesize job's output ({@code job:}).
   */
  @Test
  @Timeout(value = 200, unit = TimeUnit.SECONDS)
  void synthesizedDataFeedsALaterFinetune() throws Exception {
    Path dir = Files.createTempDirectory("distill-e2e-pairs"); // /tmp is an allowed file: root
    Path pairs = dir.resolve("pairs.jsonl");
    StringBuilder rows = new StringBuilder();
    for (String[] qa : new String[][] {{"Hi", "Hello"}, {"Bye", "See you"}, {"Up", "Down"}}) {
      for (int copy = 0; copy < 3; copy++) {
        rows.append(
            "{\"instruction\": \"%s\", \"input\": \"\", \"output\": \"%s\"}\n"
                .formatted(qa[0], qa[1]));
      }
    }
    Files.writeString(pairs, rows);
    String parrot =
        cluster.createJob(
            """
            {"type": "finetune", "student": "builtin:gemma2-tiny",
             "dataset": {"uri": "file:%s", "format": "alpaca", "template": "gemma",
                         "max_seq_len": 64, "validation_fraction": 0.0, "mask_prompt": false},
             "hyperparameters": {"max_steps": 120, "batch_size": 8, "learning_rate": 0.01,
                                 "checkpoint_every": 1000, "keep_checkpoints": 1}}
            """
                .formatted(pairs.toAbsolutePath()));
    cluster.startWorker("w-chain");
    assertSucceeded(parrot);

    String synth =
        cluster.createJob(
            """
            {"type": "synthesize", "teacher": "job:%s",
             "generation": {"num_samples": 6, "max_new_tokens": 16, "temperature": 0.0,
                            "pre_query_template": "gemma2"},
             "hyperparameters": {"seed": 3}}
            """
                .formatted(parrot));
    JsonNode synthJob = assertSucceeded(synth);
    Path out = Path.of(synthJob.get("output_uri").asString().substring("file:".length()));
    List<String> lines = Files.readAllLines(out.resolve("data.jsonl"));
    // greedy decoding: the same instruction every time, so one row and five duplicates dropped
    assertThat(lines).hasSize(1);
    JsonNode row = Cluster.JSON.readTree(lines.get(0));
    assertThat(row.get("instruction").asString()).isIn("Hi", "Bye", "Up");
    assertThat(row.get("output").asString()).isNotBlank();
    assertThat(cluster.series(synth, "dropped_duplicate").lastEntry().getValue()).isEqualTo(5.0);

    String student =
        cluster.createJob(
            """
            {"type": "finetune", "student": "builtin:gemma2-tiny",
             "dataset": {"uri": "job:%s", "format": "alpaca", "max_seq_len": 48,
                         "validation_fraction": 0.0},
             "hyperparameters": {"max_steps": 2, "batch_size": 1}}
            """
                .formatted(synth));
    assertSucceeded(student);
    assertThat(cluster.series(student, "loss").keySet()).containsExactly(1L, 2L);
  }

  private static JsonNode assertSucceeded(String id) throws Exception {
    JsonNode job = cluster.awaitStatus(id, JOB_TIMEOUT, "SUCCEEDED", "FAILED", "CANCELLED");
    assertThat(job.get("status").asString())
        .as("job %s: %s", id, job.get("failure_reason"))
        .isEqualTo("SUCCEEDED");
    return job;
  }
}
