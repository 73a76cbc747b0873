package dev.distill.app.worker;

import dev.distill.app.console.MetricRows;
import dev.distill.app.control.ApiException;
import dev.distill.app.control.Backoff;
import dev.distill.app.control.WorkerClient;
import dev.distill.app.endpoint.EndpointKeys;
import dev.distill.app.endpoint.OpenAiClient;
import dev.distill.spec.FileRefs;
import dev.distill.spec.protocol.Artifact;
import dev.distill.spec.protocol.BatchResponse;
import dev.distill.spec.protocol.CheckpointRegistration;
import dev.distill.spec.protocol.ClaimResponse;
import dev.distill.spec.protocol.ClaimedTask;
import dev.distill.spec.protocol.CompleteRequest;
import dev.distill.spec.protocol.EventBatch;
import dev.distill.spec.protocol.FailRequest;
import dev.distill.spec.protocol.MetricBatch;
import dev.distill.spec.protocol.MetricPoint;
import dev.distill.spec.protocol.ReleaseRequest;
import dev.distill.spec.protocol.WorkerEvent;
import dev.distill.trainer.checkpoint.Checkpoint;
import dev.distill.trainer.recipe.MemoryPlans;
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
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.StringJoiner;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One leased run of a job. It owns the lease: a heartbeat thread extends it every third of its TTL;
 * events, metric points and checkpoint registrations go through {@link Outbox}es that buffer while
 * the service is unreachable. It is the recipe's {@link TrainingListener} and {@link StopSignal},
 * and it ends itself from the run's result: complete, fail (a cancel is a fail with {@code
 * cancelled}), or release (shutdown, which spends no attempt).
 *
 * <p>A claim of one task of a job (a shard of a {@code teacher_pass}, or its seal) runs only that
 * task ({@link Recipes#runTask}) under the task's lease: a shard's progress (sequences done) goes
 * with the heartbeats and the complete as the task's, not as metric points, which every shard of
 * the job would write over each other.
 *
 * <p>Cancellation arrives with heartbeat answers and with the answers to event and metric batches.
 * A write refused with 409/404/410, a heartbeat refused, or a metric batch answered {@code
 * lease_lost} means the lease was lost (it expired and the job was requeued): the run stops at the
 * next step, delivers the metric points it still holds (the service keeps those it lacks) and
 * reports nothing else.
 */
final class Attempt implements TrainingListener, StopSignal {

  private static final Logger log = LoggerFactory.getLogger(Attempt.class);
  private static final Duration DRAIN_TIMEOUT = Duration.ofMinutes(10);
  private static final Duration LATE_POINTS_TIMEOUT = Duration.ofSeconds(60);
  private static final int END_TRIES = 60;

  /** Where teacher-logit caches live in the artifact store, one directory per cache key. */
  static final String TEACHER_CACHES = "teacher-caches";

  private final WorkerClient client;
  private final ClaimResponse claim;
  private final String workerId;
  private final WorkerMetrics metrics;
  private final BooleanSupplier shuttingDown;
  private final EndpointKeys keys;
  private final String jobId;
  private final UUID lease;
  private final long epoch;
  private final ClaimedTask task;

  private final AtomicBoolean leaseLost = new AtomicBoolean();
  private final AtomicBoolean cancelRequested = new AtomicBoolean();
  private final AtomicLong step = new AtomicLong();
  private final AtomicLong eventSeq = new AtomicLong();
  private final Outbox<WorkerEvent> events;
  private final Outbox<MetricPoint> points;
  private final Outbox<CheckpointRegistration> checkpoints;
  private final Heartbeat heartbeat;
  private final Sleeper sleeper;

  /**
   * @param shuttingDown true once the process is stopping: the run checkpoints and the lease is
   *     released
   * @param sleeper waits between tries of a call the service did not answer or refused for now
   */
  Attempt(
      WorkerClient client,
      ClaimResponse claim,
      String workerId,
      WorkerMetrics metrics,
      BooleanSupplier shuttingDown,
      EndpointKeys keys,
      Sleeper sleeper) {
    this.client = client;
    this.sleeper = sleeper;
    this.keys = keys;
    this.claim = claim;
    this.workerId = workerId;
    this.metrics = metrics;
    this.shuttingDown = shuttingDown;
    this.jobId = claim.job().id().toString();
    this.lease = claim.leaseId();
    this.epoch = claim.epoch();
    this.task = claim.job().task();
    this.events =
        new Outbox<>(
            "events-" + jobId,
            batch -> onAnswer(client.events(lease, new EventBatch(epoch, batch))),
            500,
            this::onRefused,
            metrics::reportRetried,
            sleeper);
    this.points =
        new Outbox<>(
            "metrics-" + jobId,
            batch -> onAnswer(client.metrics(lease, new MetricBatch(epoch, batch))),
            2000,
            this::onRefused,
            metrics::reportRetried,
            sleeper);
    this.checkpoints =
        new Outbox<>(
            "checkpoints-" + jobId,
            batch -> batch.forEach(c -> client.checkpoint(lease, c)),
            1,
            this::onRefused,
            metrics::reportRetried,
            sleeper);
    this.heartbeat =
        new Heartbeat(
            client,
            lease,
            epoch,
            ttlOf(claim),
            step::get,
            beat -> {
              if (beat.cancelRequested()) {
                cancelRequested.set(true);
              }
            },
            this::leaseLost,
            this::onHeartbeatTrouble,
            sleeper);
  }

  /**
   * Runs the job with its recipe, reports what it did and ends the attempt.
   *
   * @param device cpu, cuda or cuda:N
   * @param memoryMb the memory this worker offers: a job whose memory plan is larger fails before
   *     anything is loaded
   */
  void run(Path storageRoot, String device, long memoryMb) throws InterruptedException {
    log.info(
        "worker {}: claimed job {}{} (attempt {}, epoch {})",
        workerId,
        jobId,
        task == null ? "" : " task " + task.index(),
        claim.job().attempt(),
        epoch);
    metrics.jobStarted(jobId);
    try {
      Map<String, Path> artifacts = new HashMap<>();
      claim.artifacts().forEach((id, a) -> artifacts.put(id, localPath(a)));
      Path outputDir = storageRoot.resolve("jobs").resolve(jobId);
      // attempt 2 or later follows a failed or lost one (a release does not count): a retry
      boolean retry = claim.job().attempt() > 1;
      event(
          "claimed",
          retry ? "warn" : "info",
          "worker "
              + workerId
              + " started attempt "
              + claim.job().attempt()
              + " of "
              + claim.job().maxAttempts()
              + (task == null
                  ? ""
                  : task.isSeal()
                      ? " of the seal (task " + task.index() + ")"
                      : " of shard " + task.index() + " of " + task.count())
              + (retry ? " (a retry)" : ""));
      RunResult result = null;
      String failure = null;
      boolean retryable = false;
      heartbeat.start();
      try {
        // again here, before anything is opened: a file: reference never reads the artifact store
        FileRefs.requireOutsideArtifactStore(claim.job().spec(), storageRoot);
        Endpoints endpoints =
            new Endpoints(claim.endpoints(), keys, OpenAiClient.Settings.defaults());
        // teacher caches are shared by key across the store: a second pass reuses the first's
        Path cacheStore = storageRoot.resolve(TEACHER_CACHES);
        // file: and job: models are planned here, from their config.json (the service could not)
        failure =
            MemoryPlans.doesNotFit(
                    claim.job().spec(),
                    artifacts,
                    device.startsWith("cuda") ? "cuda" : "cpu",
                    memoryMb << 20)
                .orElse(null);
        if (failure == null) {
          RunContext ctx =
              new RunContext(
                  outputDir, artifacts, this, this, endpoints, new PngCharts(), device, cacheStore);
          result =
              task == null
                  ? Recipes.run(claim.job().spec(), ctx)
                  : Recipes.runTask(claim.job().spec(), ctx, task.index(), task.isSeal());
        }
      } catch (OutOfMemoryError e) {
        failure = "out of memory: " + e.getMessage();
      } catch (RuntimeException e) {
        failure = Recipes.describeFailure(e);
        retryable = Recipes.isRetryable(e);
        log.warn("worker {}: job {} failed", workerId, jobId, e);
      } finally {
        heartbeat.stop();
      }
      end(result, failure, retryable);
    } finally {
      events.close();
      points.close();
      checkpoints.close();
      metrics.jobFinished();
    }
  }

  /** Delivers what the run reported, then tells the service how the attempt ended. */
  private void end(RunResult result, String failure, boolean retryable)
      throws InterruptedException {
    if (leaseLost.get()) {
      deliverLatePoints();
      return;
    }
    if (failure != null) {
      boolean again = retryable && claim.job().attempt() < claim.job().maxAttempts();
      event(
          "error",
          "error",
          "attempt "
              + claim.job().attempt()
              + " of "
              + claim.job().maxAttempts()
              + " failed"
              + (again ? " (retryable)" : "")
              + ": "
              + failure);
    }
    if (result != null
        && result.outcome() != RunResult.Outcome.COMPLETED
        && result.lastCheckpoint() != null) {
      // the recipe writes a checkpoint when it stops (cancel, shutdown) without announcing it
      onCheckpoint(result.lastCheckpoint(), false);
    }
    boolean drained =
        events.flush(DRAIN_TIMEOUT)
            && points.flush(DRAIN_TIMEOUT)
            && checkpoints.flush(DRAIN_TIMEOUT);
    if (leaseLost.get()) {
      deliverLatePoints();
      return;
    }
    if (!drained) {
      log.warn("worker {}: could not deliver the reports of job {}", workerId, jobId);
      return;
    }
    report(result, failure, retryable);
  }

  /** Completes, fails or releases the lease, retrying while the service is unreachable. */
  private void report(RunResult result, String failure, boolean retryable)
      throws InterruptedException {
    String what;
    Runnable call;
    if (failure != null) {
      what = "fail";
      call = () -> client.fail(lease, new FailRequest(epoch, failure, retryable, false));
    } else {
      switch (result.outcome()) {
        case COMPLETED -> {
          what = "complete";
          Long progress = task == null ? null : step.get();
          call = () -> client.complete(lease, new CompleteRequest(epoch, progress));
        }
        case CANCELLED -> {
          what = "fail";
          call =
              () ->
                  client.fail(
                      lease,
                      new FailRequest(epoch, "cancelled at step " + result.step(), false, true));
        }
        case PREEMPTED -> {
          // shutdown: give the job back without spending an attempt
          what = "release";
          call =
              () ->
                  client.release(
                      lease,
                      new ReleaseRequest(
                          epoch,
                          "shut down at step "
                              + result.step()
                              + "; resumes from the last checkpoint"));
        }
        default -> throw new IllegalStateException("unknown outcome " + result.outcome());
      }
    }
    // tried again only when no answer came or the service said "later" (5xx, 429, 408): a call
    // that was applied before its answer was lost is answered 409 lease-lost the second time, as
    // the lease has ended, so nothing is done twice
    Backoff backoff = new Backoff(Duration.ofMillis(500), Duration.ofSeconds(10));
    for (int i = 0; i < END_TRIES; i++) {
      try {
        call.run();
        return;
      } catch (ApiException e) {
        if (!e.retryable()) {
          log.warn("worker {}: {} refused: {}", workerId, what, e.getMessage());
          return;
        }
        Duration wait = backoff.after(e);
        log.warn(
            "worker {}: {} not answered ({}); trying again in {} ms",
            workerId,
            what,
            e.getMessage(),
            wait.toMillis());
        sleeper.sleep(wait);
      }
    }
  }

  // --- StopSignal: asked by the recipe between steps

  @Override
  public Optional<Reason> check() {
    if (leaseLost.get()) {
      return Optional.of(Reason.PREEMPTED);
    }
    if (cancelRequested.get()) {
      return Optional.of(Reason.CANCELLED);
    }
    return shuttingDown.getAsBoolean() ? Optional.of(Reason.PREEMPTED) : Optional.empty();
  }

  // --- TrainingListener: what the run reports, buffered for the service

  @Override
  public void onEvent(String type, String message) {
    event(type, levelOf(type), message);
  }

  /**
   * The level of an event the run reports, by its type (levels: docs/api.md): {@code warn} for what
   * went wrong without ending the run (dropped samples, truncated examples, a damaged checkpoint
   * set aside), {@code error} for a failure, else {@code info}. The worker's own events choose
   * theirs: a retry's claim and a failed heartbeat are {@code warn}.
   */
  static String levelOf(String type) {
    return switch (type) {
      case "error" -> "error";
      case "warning", "checkpoint_skipped" -> "warn";
      default -> "info";
    };
  }

  private void event(String type, String level, String message) {
    events.add(
        new WorkerEvent(eventSeq.getAndIncrement(), Instant.now(), level, type, message, null));
  }

  @Override
  public void onStep(StepMetrics m) {
    step.set(m.step());
    metrics.step(
        m.stepSeconds(), m.tokensPerSecond(), (long) (m.tokensPerSecond() * m.stepSeconds()));
    Instant now = Instant.now();
    m.asMap().forEach((name, v) -> points.add(new MetricPoint(m.step(), name, v, now)));
  }

  @Override
  public void onEval(long evalStep, Map<String, Double> values) {
    reportValues("validation", evalStep, values);
  }

  @Override
  public void onProgress(long done, Map<String, Double> counts) {
    if (task != null && !task.isSeal()) {
      // a shard's share of the job's progress: sent with heartbeats and the complete (the seal's
      // cache totals are the job's metric points)
      step.set(done);
      onEvent("progress", evalMessage(done, counts));
      return;
    }
    reportValues("progress", done, counts); // synthesize: x = samples attempted
  }

  /** An event listing the values, and their finite ones as metric points at x = {@code at}. */
  private void reportValues(String eventType, long at, Map<String, Double> values) {
    onEvent(eventType, evalMessage(at, values));
    Instant now = Instant.now();
    values.forEach(
        (name, v) -> {
          if (Double.isFinite(v)) {
            points.add(new MetricPoint(at, name, v, now));
          }
        });
  }

  @Override
  public void onCheckpoint(Checkpoint c, boolean isFinal) {
    onEvent(
        "checkpoint",
        String.format(
            Locale.ROOT,
            "step %d%s: %s (%.1f MB)",
            c.step(),
            isFinal ? ", final" : "",
            c.dir().toAbsolutePath(),
            c.sizeBytes() / 1e6));
    checkpoints.add(
        new CheckpointRegistration(
            epoch,
            "file:" + c.dir().toAbsolutePath(),
            c.step(),
            c.sizeBytes(),
            c.sha256(),
            finite(c.state().metrics()),
            isFinal,
            c.deleted().stream().map(d -> "file:" + d.toAbsolutePath()).toList()));
  }

  // --- the lease

  /** A heartbeat failed and is tried again: a warning in the job's events, sent when it can be. */
  private void onHeartbeatTrouble(Heartbeat.Trouble t) {
    event(
        "lease",
        "warn",
        String.format(
            Locale.ROOT,
            "heartbeat not answered (%s); trying again in %.1f s, the lease has %.1f s left",
            t.failure().getMessage(),
            t.retryIn().toMillis() / 1000.0,
            t.leaseLeft().toMillis() / 1000.0));
  }

  private void leaseLost() {
    if (leaseLost.compareAndSet(false, true)) {
      log.warn(
          "worker {}: lease of job {} lost; stopping, delivering only metric points",
          workerId,
          jobId);
    }
  }

  /**
   * Reads the answer to an event or metric batch: raises the cancel flag, and notes the lease lost
   * when the points were taken as late points.
   */
  private void onAnswer(BatchResponse r) {
    if (r.cancelRequested()) {
      cancelRequested.set(true);
    }
    if (r.leaseLost()) {
      leaseLost();
      log.info("worker {}: job {}: {} late metric points stored", workerId, jobId, r.accepted());
    }
  }

  private void onRefused(ApiException e) {
    if (e.status() == 409 || e.status() == 404 || e.status() == 410) {
      leaseLost();
    }
  }

  /**
   * After the lease was lost: the metric points still held go out as late points (the service keeps
   * those the job lacks), so no step between the last delivered point and the checkpoint the next
   * attempt resumes from goes missing. Bounded, as the service answered moments ago.
   */
  private void deliverLatePoints() throws InterruptedException {
    int held = points.pendingCount();
    boolean delivered = points.flush(LATE_POINTS_TIMEOUT);
    log.info(
        "worker {}: job {}: {} buffered metric points {} after the lease was lost",
        workerId,
        jobId,
        held,
        delivered ? "delivered" : "NOT all delivered");
  }

  /** {@code step 200: val_loss 1.234, val_ppl 3.435}: the scores of one validation pass. */
  static String evalMessage(long step, Map<String, Double> values) {
    StringJoiner sj = new StringJoiner(", ", "step " + step + ": ", "");
    values.forEach((name, v) -> sj.add(name + " " + MetricRows.format(v)));
    return sj.toString();
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
}
