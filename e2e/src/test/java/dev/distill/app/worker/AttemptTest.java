package dev.distill.app.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.app.control.ApiClient;
import dev.distill.app.control.WorkerClient;
import dev.distill.app.demo.LocalProcesses;
import dev.distill.spec.protocol.ClaimRequest;
import dev.distill.spec.protocol.ClaimResponse;
import dev.distill.spec.protocol.WorkerCapabilities;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import tools.jackson.databind.JsonNode;

/**
 * One {@link Attempt} at a time, run in this JVM with the real recipe, against the real service as
 * its own process over the typed {@link WorkerClient}: how an attempt ends on cancel, on a lost
 * lease, on shutdown, and that it buffers its reports through a service outage.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AttemptTest {

  static final String ADMIN = "attempt-test-admin-token-0123456789";

  /** A long run of the tiny model: the tests stop it early. */
  static final String LONG_SPEC =
      """
      {"type": "finetune", "student": "builtin:gemma2-tiny",
       "dataset": {"uri": "builtin:procedural", "num_examples": 400, "max_seq_len": 48},
       "hyperparameters": {"max_steps": 5000, "batch_size": 4, "checkpoint_every": 1000}}
      """;

  /** Short-TTL service (4 s, reaper every second), shared by the tests that need no restart. */
  static Service shortTtl;

  @BeforeAll
  static void start() throws Exception {
    shortTtl = new Service("4s");
  }

  /** Set after each test: an attempt a failed test left running stops (one run per JVM). */
  static final AtomicBoolean abort = new AtomicBoolean();

  static Running running;

  @AfterEach
  void stopLeftoverAttempt() throws Exception {
    abort.set(true);
    if (running != null) {
      running.finished.handle((v, e) -> null).get(120, TimeUnit.SECONDS);
      running = null;
    }
    abort.set(false);
    shortTtl.cancelAll(); // a job a test left queued (released, requeued) is no later test's
  }

  @AfterAll
  static void stop() throws Exception {
    if (shortTtl != null) {
      shortTtl.close();
    }
  }

  @Test
  @Order(1)
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void cancelStopsTheRunWithACheckpointAndEndsTheJobCancelled() throws Exception {
    String id = shortTtl.submit(LONG_SPEC);
    Running run = shortTtl.run(id, () -> false);
    shortTtl.awaitSteps(id, 3);

    shortTtl.admin.post("v1/jobs/" + id + "/cancel", null);

    run.finished.get(60, TimeUnit.SECONDS);
    JsonNode job = shortTtl.admin.get("v1/jobs/" + id);
    assertThat(job.path("status").asString()).as("job %s", job).isEqualTo("CANCELLED");
    assertThat(shortTtl.eventKinds(id)).contains("claimed", "cancelled");
    long last = shortTtl.lossSteps(id).last();
    assertThat(last).isLessThan(5000);
    assertThat(shortTtl.checkpointSteps(id)).as("the stop's checkpoint").contains(last);
  }

  @Test
  @Order(2)
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void shutdownReleasesTheLeaseWithoutSpendingAnAttempt() throws Exception {
    String id = shortTtl.submit(LONG_SPEC);
    AtomicBoolean shuttingDown = new AtomicBoolean();
    Running run = shortTtl.run(id, shuttingDown::get);
    shortTtl.awaitSteps(id, 3);

    shuttingDown.set(true);

    run.finished.get(60, TimeUnit.SECONDS);
    JsonNode job = shortTtl.admin.get("v1/jobs/" + id);
    assertThat(job.path("status").asString()).as("job %s", job).isEqualTo("QUEUED");
    assertThat(job.path("attempts").asInt()).as("a release spends no attempt").isZero();
    assertThat(shortTtl.eventKinds(id)).contains("preempted");
    long last = shortTtl.lossSteps(id).last();
    assertThat(shortTtl.checkpointSteps(id)).as("the stop's checkpoint").contains(last);
  }

  @Test
  @Order(3)
  @Timeout(value = 150, unit = TimeUnit.SECONDS)
  void aLostLeaseStopsTheRunAndDeliversItsPointsButEndsNothing() throws Exception {
    String id = shortTtl.submit(LONG_SPEC);
    Running run = shortTtl.run(id, () -> false);
    shortTtl.awaitSteps(id, 3);

    // The service freezes past the lease TTL (4 s): when it thaws the lease has expired, the next
    // heartbeat or write is refused and the reaper requeues the job.
    shortTtl.signal("STOP");
    Thread.sleep(7_000);
    shortTtl.signal("CONT");

    run.finished.get(90, TimeUnit.SECONDS);
    // the reaper requeues it (the worker reports no end for a lease it lost)
    shortTtl.await(
        () -> shortTtl.admin.get("v1/jobs/" + id).path("status").asString().equals("QUEUED"),
        "job " + id + " requeued");
    JsonNode job = shortTtl.admin.get("v1/jobs/" + id);
    assertThat(job.path("attempts").asInt()).as("job %s", job).isEqualTo(1);
    assertThat(shortTtl.eventKinds(id)).doesNotContain("cancelled", "preempted", "finished");
    // the stop's checkpoint is on disk (never registered): every step up to it reached the
    // service, the late ones as late points
    long stoppedAt = shortTtl.newestCheckpointOnDisk(id);
    assertThat(shortTtl.lossSteps(id))
        .containsExactlyElementsOf(LongStream.rangeClosed(1, stoppedAt).boxed().toList());
  }

  @Test
  @Order(4)
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void aRetryIsAWarningAndAFailedAttemptAnError() throws Exception {
    // a file: student whose index names a weight file that is not there: an I/O failure, so the
    // attempt is retryable (Recipes.isRetryable) and the job, of two attempts, is tried again
    Path model = Files.createTempDirectory("distill-attempt-missing-shard");
    Files.writeString(
        model.resolve("config.json"),
        """
        {"architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "vocab_size": 512,
         "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16}
        """);
    Files.writeString(
        model.resolve("model.safetensors.index.json"),
        """
        {"weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors"}}
        """);
    String id =
        shortTtl.submit(
            """
            {"type": "finetune", "student": "file:%s",
             "dataset": {"uri": "builtin:procedural", "num_examples": 16, "max_seq_len": 32},
             "hyperparameters": {"max_steps": 2, "batch_size": 1}, "max_attempts": 2}
            """
                .formatted(model));

    shortTtl.run(id, () -> false).finished.get(60, TimeUnit.SECONDS);
    JsonNode requeued = shortTtl.admin.get("v1/jobs/" + id);
    assertThat(requeued.path("status").asString()).as("job %s", requeued).isEqualTo("QUEUED");
    shortTtl.run(id, () -> false).finished.get(60, TimeUnit.SECONDS);
    running = null;

    JsonNode job = shortTtl.admin.get("v1/jobs/" + id);
    assertThat(job.path("status").asString()).as("job %s", job).isEqualTo("FAILED");
    List<String> claims = new ArrayList<>();
    List<String> errors = new ArrayList<>();
    shortTtl
        .admin
        .get("v1/jobs/" + id + "/events?limit=500")
        .path("items")
        .forEach(
            e -> {
              String line = e.path("level").asString() + " " + e.path("message").asString();
              switch (e.path("kind").asString()) {
                case "claimed" -> claims.add(line);
                case "error" -> errors.add(line);
                default -> {}
              }
            });
    assertThat(claims).hasSize(2);
    assertThat(claims.get(0)).startsWith("info worker attempt-test started attempt 1 of 2");
    assertThat(claims.get(1))
        .startsWith("warn worker attempt-test started attempt 2 of 2")
        .endsWith("(a retry)");
    assertThat(errors).hasSize(2);
    assertThat(errors.get(0))
        .startsWith("error attempt 1 of 2 failed (retryable): ")
        .contains("model-00001-of-00002.safetensors");
    assertThat(errors.get(1)).startsWith("error attempt 2 of 2 failed: ");
  }

  @Test
  @Order(5)
  @Timeout(value = 420, unit = TimeUnit.SECONDS)
  void reportsAreBufferedThroughAServiceOutageAndNothingIsLost() throws Exception {
    try (Service s = new Service("300s")) {
      String id =
          s.submit(
              """
              {"type": "finetune", "student": "builtin:gemma2-tiny",
               "dataset": {"uri": "builtin:procedural", "num_examples": 400, "max_seq_len": 48},
               "hyperparameters": {"max_steps": 150, "batch_size": 4, "checkpoint_every": 50}}
              """);
      Running run = s.run(id, () -> false);
      s.awaitSteps(id, 2);

      s.restart(); // SIGTERM, then the same home and port again; the attempt keeps training

      run.finished.get(150, TimeUnit.SECONDS);
      JsonNode job = s.admin.get("v1/jobs/" + id);
      assertThat(job.path("status").asString()).as("job %s", job).isEqualTo("SUCCEEDED");
      assertThat(job.path("attempts").asInt()).isEqualTo(1);
      assertThat(s.lossSteps(id))
          .containsExactlyElementsOf(LongStream.rangeClosed(1, 150).boxed().toList());
      assertThat(s.checkpointSteps(id)).contains(50L, 100L, 150L);
    }
  }

  /** An attempt running on its own thread. */
  record Running(CompletableFuture<Void> finished) {}

  /** The service as its own process, with an admin client and a worker's typed client. */
  static final class Service implements AutoCloseable {
    final Path home;
    final Path storage;
    final int port;
    final URI base;
    final Map<String, String> env;
    final LocalProcesses processes;
    final ApiClient admin;
    Process process;
    WorkerClient worker;

    Service(String leaseTtl) throws Exception {
      home = Files.createTempDirectory("distill-attempt-");
      storage = Files.createDirectories(home.resolve("data").resolve("artifacts"));
      port = LocalProcesses.freePort();
      base = URI.create("http://127.0.0.1:" + port + "/");
      env =
          Map.of(
              "DISTILL_ADMIN_TOKEN", ADMIN,
              "DISTILL_LEASE_TTL", leaseTtl,
              "DISTILL_REAPER_INTERVAL", "1s");
      processes = new LocalProcesses(home.resolve("logs"));
      admin = new ApiClient(base, ADMIN);
      startProcess();
      String token =
          admin
              .post(
                  "v1/tokens",
                  Map.of("name", "attempt-test", "role", "worker", "project", "default"))
              .path("token")
              .asString();
      worker = new WorkerClient(base, token);
    }

    private void startProcess() throws Exception {
      process = processes.startService(home, port, env);
      LocalProcesses.awaitHttpOk(
          base.resolve("actuator/health/readiness"),
          Duration.ofSeconds(150),
          process,
          processes.log("service"));
    }

    void restart() throws Exception {
      LocalProcesses.stop(process, Duration.ofSeconds(60));
      startProcess();
    }

    void signal(String sig) throws Exception {
      Process kill = new ProcessBuilder("kill", "-" + sig, Long.toString(process.pid())).start();
      assertThat(kill.waitFor()).isZero();
    }

    final List<String> submitted = new ArrayList<>();

    String submit(String spec) {
      String id = admin.post("v1/jobs", spec).path("id").asString();
      submitted.add(id);
      return id;
    }

    void cancelAll() {
      for (String id : submitted) {
        String status = admin.get("v1/jobs/" + id).path("status").asString();
        if (status.equals("QUEUED") || status.equals("RUNNING")) {
          admin.post("v1/jobs/" + id + "/cancel", null);
        }
      }
      submitted.clear();
    }

    /** Claims the job (the only one queued) and runs it as an attempt on a new thread. */
    Running run(String jobId, java.util.function.BooleanSupplier shuttingDown) {
      ClaimResponse claim =
          worker
              .claim(
                  new ClaimRequest("attempt-test", new WorkerCapabilities(null, 16_000L, null), 5))
              .orElseThrow(() -> new AssertionError("no job to claim"));
      assertThat(claim.job().id().toString()).isEqualTo(jobId);
      WorkerMetrics metrics = new WorkerMetrics("attempt-test");
      Attempt attempt =
          new Attempt(
              worker,
              claim,
              "attempt-test",
              metrics,
              () -> abort.get() || shuttingDown.getAsBoolean(),
              new dev.distill.app.endpoint.EndpointKeys(java.util.Map.of()),
              Sleeper.REAL);
      CompletableFuture<Void> done =
          CompletableFuture.runAsync(
              () -> {
                try {
                  attempt.run(storage, "cpu", 16_000);
                } catch (InterruptedException e) {
                  throw new IllegalStateException(e);
                } finally {
                  metrics.close();
                }
              });
      running = new Running(done);
      return running;
    }

    void awaitSteps(String jobId, int n) throws InterruptedException {
      await(() -> lossSteps(jobId).size() >= n, "job " + jobId + " reaching " + n + " steps");
    }

    TreeSet<Long> lossSteps(String jobId) {
      TreeSet<Long> steps = new TreeSet<>();
      long after = 0;
      while (true) {
        JsonNode s =
            admin
                .get("v1/jobs/" + jobId + "/metrics?names=loss&limit=1000&after_step=" + after)
                .path("series")
                .path("loss");
        int before = steps.size();
        s.forEach(p -> steps.add(p.path("step").asLong()));
        if (steps.size() == before) {
          return steps;
        }
        after = steps.last();
      }
    }

    List<Long> checkpointSteps(String jobId) {
      List<Long> out = new ArrayList<>();
      admin
          .get("v1/jobs/" + jobId + "/checkpoints")
          .path("items")
          .forEach(c -> out.add(c.path("step").asLong()));
      return out;
    }

    List<String> eventKinds(String jobId) {
      List<String> out = new ArrayList<>();
      admin
          .get("v1/jobs/" + jobId + "/events?limit=500")
          .path("items")
          .forEach(e -> out.add(e.path("kind").asString()));
      return out;
    }

    long newestCheckpointOnDisk(String jobId) throws Exception {
      try (Stream<Path> dirs =
          Files.list(storage.resolve("jobs").resolve(jobId).resolve("checkpoints"))) {
        return dirs.map(d -> d.getFileName().toString())
            .filter(n -> n.matches("step-\\d+"))
            .mapToLong(n -> Long.parseLong(n.substring("step-".length())))
            .max()
            .orElseThrow();
      }
    }

    static void await(java.util.function.BooleanSupplier done, String what)
        throws InterruptedException {
      Instant deadline = Instant.now().plusSeconds(150);
      while (!done.getAsBoolean()) {
        if (Instant.now().isAfter(deadline)) {
          throw new AssertionError("not reached within 150 s: " + what);
        }
        Thread.sleep(200);
      }
    }

    @Override
    public void close() throws Exception {
      processes.close();
    }
  }
}
