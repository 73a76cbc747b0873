package dev.distill.app.worker;

import dev.distill.app.control.ApiException;
import dev.distill.app.control.Backoff;
import dev.distill.app.control.WorkerClient;
import dev.distill.app.endpoint.EndpointKeys;
import dev.distill.spec.protocol.ClaimRequest;
import dev.distill.spec.protocol.ClaimResponse;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker loop: claim a job, run it as an {@link Attempt}, repeat. One job at a time (DJL allows
 * one gradient collector per JVM). On {@link #shutdown} the running attempt checkpoints and
 * releases its lease.
 */
public final class Worker implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(Worker.class);

  private final WorkerConfig config;
  private final WorkerClient client;
  private final WorkerMetrics metrics;
  private final EndpointKeys keys = new EndpointKeys(System.getenv());
  private final AtomicBoolean shutdown = new AtomicBoolean();
  private final CountDownLatch stopped = new CountDownLatch(1);
  private final CountDownLatch stopAsked = new CountDownLatch(1);
  private final Sleeper sleeper;

  public Worker(WorkerConfig config) {
    this(config, Sleeper.REAL);
  }

  /**
   * @param sleeper waits between tries of a call the service did not answer or refused for now
   */
  Worker(WorkerConfig config, Sleeper sleeper) {
    this.config = config;
    this.sleeper = sleeper;
    this.client = new WorkerClient(config.serviceUrl(), config.token());
    this.metrics = new WorkerMetrics(config.workerId());
  }

  /**
   * Asks the loop to stop: a running job checkpoints and its lease is released; a wait between
   * claims (a 503's {@code Retry-After} may ask up to a minute) ends at once.
   */
  public void shutdown() {
    shutdown.set(true);
    stopAsked.countDown();
  }

  /** Waits until {@link #run} returned. */
  public boolean awaitStopped(Duration timeout) throws InterruptedException {
    return stopped.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  /**
   * Runs until {@link #shutdown} (or after one job with {@code once}). Returns the process exit
   * code: 0, or 2 when the service refuses the worker (a wrong token).
   */
  public int run() throws Exception {
    try {
      if (config.metricsPort() >= 0) {
        int port = metrics.serve(config.metricsAddress(), config.metricsPort());
        log.info("worker {}: metrics on :{}/metrics", config.workerId(), port);
      }
      ClaimRequest request =
          new ClaimRequest(config.workerId(), config.capabilities(), config.waitSeconds());
      // at least what a 503's Retry-After asks (too many claims wait, the service shuts down or
      // its database is down), else exponential with jitter
      Backoff backoff = new Backoff(Duration.ofMillis(500), Duration.ofSeconds(15));
      while (!shutdown.get()) {
        Optional<ClaimResponse> claim;
        try {
          claim = client.claim(request);
          backoff.reset();
        } catch (ApiException e) {
          if (!e.retryable()) {
            log.error(
                "worker {}: the service refused the claim: {}", config.workerId(), e.getMessage());
            return 2;
          }
          Duration wait = backoff.after(e);
          log.warn(
              "worker {}: {} (retrying in {} ms)",
              config.workerId(),
              e.getMessage(),
              wait.toMillis());
          if (sleeper == Sleeper.REAL) {
            stopAsked.await(wait.toNanos(), TimeUnit.NANOSECONDS); // or until shutdown
          } else {
            sleeper.sleep(wait);
          }
          continue;
        }
        if (claim.isEmpty()) {
          continue;
        }
        new Attempt(client, claim.get(), config.workerId(), metrics, shutdown::get, keys, sleeper)
            .run(config.storageRoot(), config.device(), config.capabilities().memoryMb());
        if (config.once()) {
          break;
        }
      }
      return 0;
    } finally {
      stopped.countDown();
    }
  }

  @Override
  public void close() {
    metrics.close();
  }
}
