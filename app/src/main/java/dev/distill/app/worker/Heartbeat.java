package dev.distill.app.worker;

import dev.distill.app.control.ApiException;
import dev.distill.app.control.WorkerClient;
import dev.distill.spec.protocol.HeartbeatRequest;
import dev.distill.spec.protocol.HeartbeatResponse;
import java.time.Duration;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Extends a lease every third of its TTL on its own thread. A retryable failure (service
 * unreachable, 5xx) is retried at the next beat; a refusal means the lease is gone.
 */
final class Heartbeat {

  private static final Logger log = LoggerFactory.getLogger(Heartbeat.class);

  private final WorkerClient client;
  private final UUID lease;
  private final long epoch;
  private final Duration ttl;
  private final LongSupplier step;
  private final Consumer<HeartbeatResponse> onBeat;
  private final Runnable onLost;
  private Thread thread;
  private volatile boolean running;

  /**
   * @param step the step reached, sent with each beat
   * @param onBeat each answer (it carries the cancel flag)
   * @param onLost called once the service refuses the lease
   */
  Heartbeat(
      WorkerClient client,
      UUID lease,
      long epoch,
      Duration ttl,
      LongSupplier step,
      Consumer<HeartbeatResponse> onBeat,
      Runnable onLost) {
    this.client = client;
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
        onBeat.accept(client.heartbeat(lease, new HeartbeatRequest(epoch, step.getAsLong())));
      } catch (ApiException e) {
        if (!e.retryable()) {
          onLost.run();
          return;
        }
        log.warn("heartbeat failed, will retry: {}", e.getMessage());
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
