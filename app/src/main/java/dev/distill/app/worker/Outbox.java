package dev.distill.app.worker;

import dev.distill.app.control.ApiException;
import dev.distill.app.control.Backoff;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A buffer of items (events, metric points, checkpoint registrations) sent to the service in
 * batches by its own thread. When the service is unreachable or answers 5xx, 429 or 408, the batch
 * is tried again after {@link Backoff}'s wait (exponential with jitter, at least what a {@code
 * Retry-After} asks) while training goes on and new items keep queueing: nothing is lost when the
 * service comes back. Sending must be idempotent on the service side, because a batch that reached
 * the service before the connection broke is sent again, and it is: events are unique per (job,
 * lease epoch, seq) and a resent one is ignored, metric points are upserted on (job, name, step), a
 * checkpoint on (job, uri) (service {@code LeaseService}).
 *
 * @param <T> the item type
 */
final class Outbox<T> implements AutoCloseable {

  /** Sends one batch; throws {@link ApiException} on failure. */
  interface Sender<T> {
    void send(List<T> batch);
  }

  private static final Logger log = LoggerFactory.getLogger(Outbox.class);

  private final String name;
  private final Sender<T> sender;
  private final int maxBatch;
  private final Consumer<ApiException> onFatal;
  private final Runnable onRetry;
  private final Sleeper sleeper;
  private final Backoff backoff = new Backoff(Duration.ofMillis(200), Duration.ofSeconds(10));
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private final List<T> pending = new ArrayList<>();
  private final Thread thread;
  private int inFlight;
  private boolean closed;
  private ApiException fatal;

  /**
   * @param name for thread and log names
   * @param sender sends a batch
   * @param maxBatch largest batch
   * @param onFatal called once when the service refuses a batch for good (4xx other than 408/429,
   *     for example 409 when the lease was lost), before {@link #flush} can return false for it:
   *     the outbox then drops what it holds. Metric points are not refused when the lease was lost
   *     (the service keeps them as late points), so the metric outbox goes on delivering them
   * @param onRetry called on each retry (for a metric)
   * @param sleeper waits between tries
   */
  Outbox(
      String name,
      Sender<T> sender,
      int maxBatch,
      Consumer<ApiException> onFatal,
      Runnable onRetry,
      Sleeper sleeper) {
    this.name = name;
    this.sender = sender;
    this.maxBatch = maxBatch;
    this.onFatal = onFatal;
    this.onRetry = onRetry;
    this.sleeper = sleeper;
    this.thread = new Thread(this::run, "outbox-" + name);
    this.thread.setDaemon(true);
    this.thread.start();
  }

  void add(T item) {
    lock.lock();
    try {
      if (fatal == null && !closed) {
        pending.add(item);
        changed.signalAll();
      }
    } finally {
      lock.unlock();
    }
  }

  /**
   * Waits until everything added so far has been sent.
   *
   * @return true when drained, false on timeout or after a fatal refusal
   */
  boolean flush(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    lock.lock();
    try {
      while ((!pending.isEmpty() || inFlight > 0) && fatal == null) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        changed.awaitNanos(left);
      }
      return fatal == null;
    } finally {
      lock.unlock();
    }
  }

  int pendingCount() {
    lock.lock();
    try {
      return pending.size() + inFlight;
    } finally {
      lock.unlock();
    }
  }

  private void run() {
    while (true) {
      List<T> batch;
      lock.lock();
      try {
        while (pending.isEmpty() && !closed) {
          changed.await();
        }
        if (pending.isEmpty()) {
          return;
        }
        int n = Math.min(maxBatch, pending.size());
        batch = new ArrayList<>(pending.subList(0, n));
        pending.subList(0, n).clear();
        inFlight = n;
      } catch (InterruptedException e) {
        return;
      } finally {
        lock.unlock();
      }
      while (true) {
        try {
          sender.send(batch);
          backoff.reset();
          break;
        } catch (ApiException e) {
          if (!e.retryable()) {
            log.warn("{}: service refused a batch: {}", name, e.getMessage());
            // first, so that whoever flush() wakes sees what the refusal meant (a lost lease: the
            // caller then delivers its metric points as late points instead of dropping them)
            onFatal.accept(e);
            lock.lock();
            try {
              fatal = e;
              pending.clear();
              inFlight = 0;
              changed.signalAll();
            } finally {
              lock.unlock();
            }
            return;
          }
          onRetry.run();
          Duration wait = backoff.after(e);
          log.info(
              "{}: {} (retrying in {} ms, {} items held)",
              name,
              e.getMessage(),
              wait.toMillis(),
              batch.size() + pendingCount());
          try {
            sleeper.sleep(wait);
          } catch (InterruptedException ie) {
            return;
          }
        }
      }
      lock.lock();
      try {
        inFlight = 0;
        changed.signalAll();
      } finally {
        lock.unlock();
      }
    }
  }

  @Override
  public void close() {
    lock.lock();
    try {
      closed = true;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    thread.interrupt();
  }
}
