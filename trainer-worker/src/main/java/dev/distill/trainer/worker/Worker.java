package dev.distill.trainer.worker;

import dev.distill.spec.FileRefs;
import dev.distill.spec.protocol.Artifact;
import dev.distill.spec.protocol.BatchResponse;
import dev.distill.spec.protocol.CheckpointRegistration;
import dev.distill.spec.protocol.ClaimRequest;
import dev.distill.spec.protocol.ClaimResponse;
import dev.distill.spec.protocol.CompleteRequest;
import dev.distill.spec.protocol.EventBatch;
import dev.distill.spec.protocol.FailRequest;
import dev.distill.spec.protocol.HeartbeatRequest;
import dev.distill.spec.protocol.HeartbeatResponse;
import dev.distill.spec.protocol.MetricBatch;
import dev.distill.spec.protocol.MetricPoint;
import dev.distill.spec.protocol.ReleaseRequest;
import dev.distill.spec.protocol.WorkerEvent;
import dev.distill.trainer.checkpoint.Checkpoint;
import dev.distill.trainer.control.ApiClient;
import dev.distill.trainer.control.ApiException;
import dev.distill.trainer.recipe.Recipes;
import dev.distill.trainer.recipe.RunContext;
import dev.distill.trainer.recipe.RunResult;
import dev.distill.trainer.recipe.StepMetrics;
import dev.distill.trainer.recipe.StopSignal;
import dev.distill.trainer.recipe.TrainingListener;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.JsonNode;

/**
 * The worker loop: claim, run, report, repeat. One job at a time (DJL allows one gradient collector
 * per JVM).
 *
 * <p>While a job runs, a heartbeat thread extends the lease every third of its TTL and learns about
 * cancellation; events, metrics and checkpoint registrations go through {@link Outbox}es, and the
 * answers to event and metric batches (sent every few seconds) carry the cancel flag too, so a
 * cancel is seen at the next batch. A write refused with 409, or a metric batch answered {@code
 * lease_lost}, means the lease was lost (it expired and the job was requeued): the run stops at the
 * next step, delivers the metric points it still holds (the service keeps those it lacks) and
 * reports nothing else. On shutdown the run checkpoints and releases the lease, which does not
 * count an attempt.
 */
public final class Worker implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(Worker.class);
  private static final Duration LATE_POINTS_TIMEOUT = Duration.ofSeconds(60);

  private final WorkerConfig config;
  private final ApiClient api;
  private final WorkerMetrics metrics;
  private final AtomicBoolean shutdown = new AtomicBoolean();
  private final CountDownLatch stopped = new CountDownLatch(1);

  public Worker(WorkerConfig config) {
    this.config = config;
    this.api = new ApiClient(config.serviceUrl(), config.token());
    this.metrics = new WorkerMetrics(config.workerId());
  }

  /** Asks the loop to stop: a running job checkpoints and its lease is released. */
  public void shutdown() {
    shutdown.set(true);
  }

  /** Waits until {@link #run} returned. */
  public boolean awaitStopped(Duration timeout) throws InterruptedException {
    return stopped.await(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
  }

  /**
   * Runs until {@link #shutdown} (or after one job with {@code once}). Returns the process exit
   * code.
   */
  public int run() throws Exception {
    try {
      if (config.metricsPort() >= 0) {
        int port = metrics.serve(config.metricsAddress(), config.metricsPort());
        log.info("worker {}: metrics on :{}/metrics", config.workerId(), port);
      }
      long backoffMs = 500;
      while (!shutdown.get()) {
        ClaimResponse claim;
        try {
          claim = claim();
          backoffMs = 500;
        } catch (ApiException e) {
          if (!e.retryable()) {
            log.error(
                "worker {}: the service refused the claim: {}", config.workerId(), e.getMessage());
            return 2;
          }
          log.warn(
              "worker {}: {} (retrying in {} ms)", config.workerId(), e.getMessage(), backoffMs);
          Thread.sleep(backoffMs);
          backoffMs = Math.min(backoffMs * 2, 15_000);
          continue;
        }
        if (claim == null) {
          continue;
        }
        runJob(claim);
        if (config.once()) {
          break;
        }
      }
      return 0;
    } finally {
      stopped.countDown();
    }
  }

  private ClaimResponse claim() {
    ClaimRequest req =
        new ClaimRequest(config.workerId(), config.capabilities(), config.waitSeconds());
    JsonNode body =
        api.send(
            "POST",
            "v1/worker/claims",
            req,
            Map.of(),
            Duration.ofSeconds(config.waitSeconds() + 15));
    if (body.isEmpty()) {
      return null;
    }
    return ApiClient.JSON.treeToValue(body, ClaimResponse.class);
  }

  private void runJob(ClaimResponse claim) throws InterruptedException {
    String jobId = claim.job().id().toString();
    String lease = "v1/worker/leases/" + claim.leaseId() + "/";
    long epoch = claim.epoch();
    log.info(
        "worker {}: claimed job {} (attempt {}, epoch {})",
        config.workerId(),
        jobId,
        claim.job().attempt(),
        epoch);
    metrics.jobStarted(jobId);

    AtomicBoolean leaseLost = new AtomicBoolean();
    AtomicBoolean cancel = new AtomicBoolean();
    AtomicLong step = new AtomicLong();
    Runnable lost =
        () -> {
          if (leaseLost.compareAndSet(false, true)) {
            log.warn(
                "worker {}: lease of job {} lost; stopping, delivering only metric points",
                config.workerId(),
                jobId);
          }
        };
    Outbox<WorkerEvent> events =
        new Outbox<>(
            "events-" + jobId,
            batch ->
                onAnswer(
                    api.post(lease + "events", new EventBatch(epoch, batch)), jobId, cancel, lost),
            500,
            e -> onRefused(e, lost),
            metrics::reportRetried);
    Outbox<MetricPoint> points =
        new Outbox<>(
            "metrics-" + jobId,
            batch ->
                onAnswer(
                    api.post(lease + "metrics", new MetricBatch(epoch, batch)),
                    jobId,
                    cancel,
                    lost),
            2000,
            e -> onRefused(e, lost),
            metrics::reportRetried);
    Outbox<CheckpointRegistration> checkpoints =
        new Outbox<>(
            "checkpoints-" + jobId,
            batch -> batch.forEach(c -> api.post(lease + "checkpoints", c)),
            1,
            e -> onRefused(e, lost),
            metrics::reportRetried);
    Heartbeat heartbeat =
        new Heartbeat(
            api,
            lease,
            epoch,
            ttlOf(claim),
            step,
            resp -> {
              if (resp.cancelRequested()) {
                cancel.set(true);
              }
            },
            lost);
    AtomicLong seq = new AtomicLong();
    TrainingListener listener =
        new TrainingListener() {
          @Override
          public void onEvent(String type, String message) {
            events.add(
                new WorkerEvent(seq.getAndIncrement(), Instant.now(), "info", type, message, null));
          }

          @Override
          public void onStep(StepMetrics m) {
            step.set(m.step());
            metrics.step(
                m.stepSeconds(),
                m.tokensPerSecond(),
                (long) (m.tokensPerSecond() * m.stepSeconds()));
            Instant now = Instant.now();
            m.asMap().forEach((name, v) -> points.add(new MetricPoint(m.step(), name, v, now)));
          }

          @Override
          public void onEval(long evalStep, Map<String, Double> values) {
            Instant now = Instant.now();
            values.forEach(
                (name, v) -> {
                  if (Double.isFinite(v)) {
                    points.add(new MetricPoint(evalStep, name, v, now));
                  }
                });
          }

          @Override
          public void onCheckpoint(Checkpoint c, boolean isFinal) {
            checkpoints.add(
                new CheckpointRegistration(
                    epoch,
                    "file:" + c.dir().toAbsolutePath(),
                    c.step(),
                    c.sizeBytes(),
                    c.sha256(),
                    finite(c.state().metrics()),
                    isFinal));
          }
        };
    StopSignal stop =
        () -> {
          if (leaseLost.get()) {
            return Optional.of(StopSignal.Reason.PREEMPTED);
          }
          if (cancel.get()) {
            return Optional.of(StopSignal.Reason.CANCELLED);
          }
          if (shutdown.get()) {
            return Optional.of(StopSignal.Reason.PREEMPTED);
          }
          return Optional.empty();
        };
    Map<String, Path> artifacts = new HashMap<>();
    claim.artifacts().forEach((id, a) -> artifacts.put(id, localPath(a)));
    Path outputDir = config.storageRoot().resolve("jobs").resolve(jobId);
    listener.onEvent(
        "claimed",
        "worker "
            + config.workerId()
            + " started attempt "
            + claim.job().attempt()
            + " of "
            + claim.job().maxAttempts());

    String failure = null;
    boolean retryable = false;
    RunResult result = null;
    heartbeat.start();
    try {
      // again here, before anything is opened: a file: reference never reads the artifact store
      FileRefs.requireOutsideArtifactStore(claim.job().spec(), config.storageRoot());
      result =
          Recipes.run(claim.job().spec(), new RunContext(outputDir, artifacts, listener, stop));
    } catch (OutOfMemoryError e) {
      failure = "out of memory: " + e.getMessage();
    } catch (RuntimeException e) {
      failure = Recipes.describeFailure(e);
      retryable = Recipes.isRetryable(e);
      log.warn("worker {}: job {} failed", config.workerId(), jobId, e);
    } finally {
      heartbeat.stop();
    }
    try {
      if (leaseLost.get()) {
        deliverLatePoints(points, jobId);
        return;
      }
      if (failure != null) {
        listener.onEvent("error", failure);
      }
      if (result != null
          && result.outcome() != RunResult.Outcome.COMPLETED
          && result.lastCheckpoint() != null) {
        // the recipe writes a checkpoint when it stops (cancel, shutdown) without announcing it
        listener.onCheckpoint(result.lastCheckpoint(), false);
      }
      Duration drain = Duration.ofMinutes(10);
      boolean drained = events.flush(drain) && points.flush(drain) && checkpoints.flush(drain);
      if (leaseLost.get()) {
        deliverLatePoints(points, jobId);
        return;
      }
      if (!drained) {
        log.warn("worker {}: could not deliver the reports of job {}", config.workerId(), jobId);
        return;
      }
      endAttempt(lease, epoch, result, failure, retryable);
    } finally {
      events.close();
      points.close();
      checkpoints.close();
      metrics.jobFinished();
    }
  }

  /** Completes, fails or releases the attempt, retrying while the service is unreachable. */
  private void endAttempt(
      String lease, long epoch, RunResult result, String failure, boolean retryable)
      throws InterruptedException {
    Object body;
    String path;
    if (failure != null) {
      path = "fail";
      body = new FailRequest(epoch, failure, retryable, false);
    } else if (result.outcome() == RunResult.Outcome.COMPLETED) {
      path = "complete";
      body = new CompleteRequest(epoch);
    } else if (result.outcome() == RunResult.Outcome.CANCELLED) {
      path = "fail";
      body = new FailRequest(epoch, "cancelled at step " + result.step(), false, true);
    } else {
      // shutdown: give the job back without spending an attempt
      path = "release";
      body =
          new ReleaseRequest(
              epoch, "shut down at step " + result.step() + "; resumes from the last checkpoint");
    }
    long backoffMs = 500;
    for (int attempt = 0; attempt < 60; attempt++) {
      try {
        api.post(lease + path, body);
        return;
      } catch (ApiException e) {
        if (!e.retryable()) {
          log.warn("worker {}: {} refused: {}", config.workerId(), path, e.getMessage());
          return;
        }
        Thread.sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 10_000);
      }
    }
  }

  /**
   * Reads the answer to an event or metric batch: raises the cancel flag, and calls {@code lost}
   * when the points were taken as late points of a lost lease.
   */
  private void onAnswer(JsonNode answer, String jobId, AtomicBoolean cancel, Runnable lost) {
    BatchResponse r = ApiClient.JSON.treeToValue(answer, BatchResponse.class);
    if (r.cancelRequested()) {
      cancel.set(true);
    }
    if (r.leaseLost()) {
      lost.run();
      log.info(
          "worker {}: job {}: {} late metric points stored",
          config.workerId(),
          jobId,
          r.accepted());
    }
  }

  /**
   * After the lease was lost: the metric points still held go out as late points (the service keeps
   * those the job lacks), so no step between the last delivered point and the checkpoint the next
   * attempt resumes from goes missing. Bounded, as the service answered moments ago.
   */
  private void deliverLatePoints(Outbox<MetricPoint> points, String jobId)
      throws InterruptedException {
    int held = points.pendingCount();
    boolean delivered = points.flush(LATE_POINTS_TIMEOUT);
    log.info(
        "worker {}: job {}: {} buffered metric points {} after the lease was lost",
        config.workerId(),
        jobId,
        held,
        delivered ? "delivered" : "NOT all delivered");
  }

  private static void onRefused(ApiException e, Runnable lost) {
    if (e.status() == 409 || e.status() == 404 || e.status() == 410) {
      lost.run();
    }
  }

  private static Duration ttlOf(ClaimResponse claim) {
    Duration ttl = Duration.between(Instant.now(), claim.leaseExpiresAt());
    return ttl.compareTo(Duration.ofSeconds(3)) < 0 ? Duration.ofSeconds(3) : ttl;
  }

  static Path localPath(Artifact a) {
    String uri = a.uri();
    if (!uri.startsWith("file:")) {
      throw new IllegalArgumentException("artifact " + uri + ": only file: URIs are supported");
    }
    return Path.of(uri.substring("file:".length()));
  }

  private static Map<String, Double> finite(Map<String, Double> m) {
    Map<String, Double> out = new HashMap<>();
    m.forEach(
        (k, v) -> {
          if (v != null && Double.isFinite(v)) {
            out.put(k, v);
          }
        });
    return out;
  }

  @Override
  public void close() {
    metrics.close();
  }

  /** Extends the lease every third of its TTL on its own thread. */
  static final class Heartbeat {
    private final ApiClient api;
    private final String lease;
    private final long epoch;
    private final Duration ttl;
    private final AtomicLong step;
    private final java.util.function.Consumer<HeartbeatResponse> onBeat;
    private final Runnable onLost;
    private Thread thread;
    private volatile boolean running;

    Heartbeat(
        ApiClient api,
        String lease,
        long epoch,
        Duration ttl,
        AtomicLong step,
        java.util.function.Consumer<HeartbeatResponse> onBeat,
        Runnable onLost) {
      this.api = api;
      this.lease = lease;
      this.epoch = epoch;
      this.ttl = ttl;
      this.step = step;
      this.onBeat = onBeat;
      this.onLost = onLost;
    }

    void start() {
      running = true;
      thread = new Thread(this::loop, "heartbeat");
      thread.setDaemon(true);
      thread.start();
    }

    private void loop() {
      long periodMs = Math.max(500, ttl.toMillis() / 3);
      while (running) {
        try {
          Thread.sleep(periodMs);
        } catch (InterruptedException e) {
          return;
        }
        if (!running) {
          return;
        }
        try {
          JsonNode body = api.post(lease + "heartbeat", new HeartbeatRequest(epoch, step.get()));
          onBeat.accept(ApiClient.JSON.treeToValue(body, HeartbeatResponse.class));
        } catch (ApiException e) {
          if (!e.retryable()) {
            onLost.run();
            return;
          }
          LoggerFactory.getLogger(Heartbeat.class)
              .warn("heartbeat failed, will retry: {}", e.getMessage());
        }
      }
    }

    void stop() throws InterruptedException {
      running = false;
      if (thread != null) {
        thread.interrupt();
        thread.join(5000);
      }
    }
  }
}
