package dev.distill.app.worker;

import dev.distill.app.control.ApiException;
import dev.distill.app.control.Backoff;
import dev.distill.app.control.WorkerClient;
import dev.distill.spec.protocol.HeartbeatRequest;
import dev.distill.spec.protocol.HeartbeatResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Extends a lease every third of its TTL on its own thread. A retryable failure (service
 * unreachable, 5xx, 429) is tried again after {@link Backoff}'s wait (at least a {@code
 * Retry-After}), but never later than {@link #latestRetry} allows: the lease must not expire
 * because the worker slept past it. A refusal means the lease is gone.
 */
final class Heartbeat {

  private static final Logger log = LoggerFactory.getLogger(Heartbeat.class);

  /** The shortest wait between two tries, even when the lease has almost run out. */
  static final Duration MIN_RETRY = Duration.ofMillis(200);

  /**
   * A failed beat, for the job's events.
   *
   * @param failure what the service answered, or that it could not be reached
   * @param retryIn the wait before the next try
   * @param leaseLeft how long the lease lasts from now, by the worker's clock, after the last beat
   *     that succeeded
   */
  record Trouble(ApiException failure, Duration retryIn, Duration leaseLeft) {}

  private final WorkerClient client;
  private final UUID lease;
  private final long epoch;
  private final Duration ttl;
  private final LongSupplier step;
  private final Consumer<HeartbeatResponse> onBeat;
  private final Runnable onLost;
  private final Consumer<Trouble> onTrouble;
  private final Sleeper sleeper;
  private final Backoff backoff = new Backoff(Duration.ofMillis(500), Duration.ofSeconds(10));
  private Thread thread;
  private volatile boolean running;

  /**
   * @param ttl the lease's time to live: each beat extends it by that much
   * @param step the step reached, sent with each beat
   * @param onBeat each answer (it carries the cancel flag)
   * @param onLost called once the service refuses the lease
   * @param onTrouble called after each failed beat that is tried again
   */
  Heartbeat(
      WorkerClient client,
      UUID lease,
      long epoch,
      Duration ttl,
      LongSupplier step,
      Consumer<HeartbeatResponse> onBeat,
      Runnable onLost,
      Consumer<Trouble> onTrouble,
      Sleeper sleeper) {
    this.client = client;
    this.lease = lease;
    this.epoch = epoch;
    this.ttl = ttl;
    this.step = step;
    this.onBeat = onBeat;
    this.onLost = onLost;
    this.onTrouble = onTrouble;
    this.sleeper = sleeper;
  }

  void start() {
    running = true;
    thread = new Thread(this::loop, "heartbeat");
    thread.setDaemon(true);
    thread.start();
  }

  private void loop() {
    Duration period = Duration.ofMillis(Math.max(500, ttl.toMillis() / 3));
    // by the worker's clock: the claim's TTL counts from when the lease was handed out, and each
    // beat's from when it was sent (the service extends it on arrival, a little later)
    Instant expires = Instant.now().plus(ttl);
    Duration wait = period;
    while (running) {
      try {
        sleeper.sleep(wait);
      } catch (InterruptedException e) {
        return;
      }
      if (!running) {
        return;
      }
      Instant sent = Instant.now();
      try {
        onBeat.accept(client.heartbeat(lease, new HeartbeatRequest(epoch, step.getAsLong())));
        expires = sent.plus(ttl);
        backoff.reset();
        wait = period;
      } catch (ApiException e) {
        if (!e.retryable()) {
          onLost.run();
          return;
        }
        Duration left = Duration.between(Instant.now(), expires);
        wait = Backoff.min(backoff.after(e), latestRetry(left, ttl));
        log.warn(
            "heartbeat failed, trying again in {} ms (the lease has {} ms left): {}",
            wait.toMillis(),
            left.toMillis(),
            e.getMessage());
        onTrouble.accept(new Trouble(e, wait, left));
      }
    }
  }

  /**
   * The longest wait before a failed beat is tried again: the next try must go out a sixth of the
   * TTL (10 s of the default 60 s) before the lease runs out, time for the request itself, and at
   * least {@link #MIN_RETRY} after this one.
   *
   * @param left how long the lease lasts from now
   */
  static Duration latestRetry(Duration left, Duration ttl) {
    Duration latest = left.minus(ttl.dividedBy(6));
    return latest.compareTo(MIN_RETRY) < 0 ? MIN_RETRY : latest;
  }

  void stop() throws InterruptedException {
    running = false;
    if (thread != null) {
      thread.interrupt();
      thread.join(5000);
    }
  }
}
