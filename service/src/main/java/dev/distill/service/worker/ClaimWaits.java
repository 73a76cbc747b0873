package dev.distill.service.worker;

import dev.distill.service.auth.Caller;
import dev.distill.service.config.DistillProperties;
import dev.distill.service.web.Unavailable;
import dev.distill.spec.protocol.ClaimRequest;
import dev.distill.spec.protocol.ClaimResponse;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.annotation.PreDestroy;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.springframework.context.event.ContextClosedEvent;
import org.springframework.context.event.EventListener;
import org.springframework.http.ResponseEntity;
import org.springframework.stereotype.Component;
import org.springframework.web.context.request.async.DeferredResult;

/**
 * Claims that wait ({@code wait_seconds}) without holding a request thread: the request is async
 * ({@link DeferredResult}); a waiting claim is tried again when {@link QueueListener} hears of a
 * change, at least every {@code distill.claim-poll-interval}, and answered 204 at its deadline. At
 * most {@code distill.max-claim-waits} wait at once; one more gets 503 {@code unavailable} with
 * {@code Retry-After}. When the service shuts down, every waiting claim is answered 204 at once and
 * new ones get 503, before the web server drains.
 */
@Component
class ClaimWaits {

  private final ClaimService claims;
  private final DistillProperties props;
  private final ScheduledExecutorService timer = Executors.newScheduledThreadPool(1, named("wait"));
  private final ExecutorService attempts = Executors.newFixedThreadPool(4, named("attempt"));
  private final ConcurrentSkipListSet<Waiter> waiting = new ConcurrentSkipListSet<>();
  private final AtomicInteger count = new AtomicInteger();
  private final AtomicLong arrivals = new AtomicLong();
  private volatile boolean closing;

  ClaimWaits(
      ClaimService claims, QueueListener listener, DistillProperties props, MeterRegistry meters) {
    this.claims = claims;
    this.props = props;
    listener.onChange(this::wakeAll);
    Gauge.builder("distill.claims.waiting", count, AtomicInteger::get)
        .description("Claims waiting for a job (at most distill.max-claim-waits)")
        .register(meters);
  }

  /** How many claims wait now. */
  int waiting() {
    return count.get();
  }

  /** Tries at once; if nothing is claimable and the claim may wait, it waits here. */
  DeferredResult<ResponseEntity<ClaimResponse>> claim(Caller caller, ClaimRequest req) {
    refuseWhenClosing();
    claims.register(caller, req);
    long waitMillis =
        Math.min(Duration.ofSeconds(req.waitSeconds()).toMillis(), props.maxClaimWait().toMillis());
    // the container's timeout only as a backstop: the deadline below answers first
    DeferredResult<ResponseEntity<ClaimResponse>> result =
        new DeferredResult<>(waitMillis + Duration.ofSeconds(10).toMillis());
    Optional<ClaimResponse> now = claims.attempt(caller, req);
    if (now.isPresent()) {
      result.setResult(ResponseEntity.ok(now.get()));
      return result;
    }
    if (waitMillis <= 0) {
      claims.empty();
      result.setResult(ResponseEntity.noContent().build());
      return result;
    }
    if (count.incrementAndGet() > props.maxClaimWaits()) {
      count.decrementAndGet();
      throw new Unavailable(
          props.maxClaimWaits()
              + " claims are waiting already (distill.max-claim-waits); claim again later");
    }
    Waiter w = new Waiter(arrivals.incrementAndGet(), caller, req, result);
    waiting.add(w);
    result.onTimeout(w::expire);
    result.onCompletion(w::forget);
    result.onError(e -> w.forget());
    w.start(waitMillis, props.claimPollInterval().toMillis());
    if (closing) {
      w.expire(); // closed while this claim was registering
    }
    return result;
  }

  private void refuseWhenClosing() {
    if (closing) {
      throw new Unavailable("the service is shutting down; claim again later");
    }
  }

  /** Something changed in the queue: every waiting claim tries again, oldest first. */
  private void wakeAll() {
    for (Waiter w : waiting) {
      w.retry();
    }
  }

  /**
   * Runs when the context starts closing, before the web server's graceful shutdown: waiting claims
   * end now (204) instead of holding the shutdown for up to their whole wait.
   */
  @EventListener(ContextClosedEvent.class)
  void close() {
    closing = true;
    for (Waiter w : waiting) {
      w.expire();
    }
  }

  @PreDestroy
  void stop() {
    timer.shutdownNow();
    attempts.shutdownNow();
  }

  private static ThreadFactory named(String what) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, "distill-claim-" + what + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  /** One waiting claim. Its monitor makes an attempt and the deadline exclusive. */
  private final class Waiter implements Comparable<Waiter> {
    final long seq;
    final Caller caller;
    final ClaimRequest req;
    final DeferredResult<ResponseEntity<ClaimResponse>> result;
    final AtomicBoolean queued = new AtomicBoolean();
    private ScheduledFuture<?> deadline;
    private ScheduledFuture<?> poll;
    private boolean done;

    Waiter(
        long seq,
        Caller caller,
        ClaimRequest req,
        DeferredResult<ResponseEntity<ClaimResponse>> result) {
      this.seq = seq;
      this.caller = caller;
      this.req = req;
      this.result = result;
    }

    synchronized void start(long waitMillis, long pollMillis) {
      if (done) {
        return;
      }
      deadline =
          timer.schedule(() -> attempts.execute(this::expire), waitMillis, TimeUnit.MILLISECONDS);
      poll =
          timer.scheduleWithFixedDelay(this::retry, pollMillis, pollMillis, TimeUnit.MILLISECONDS);
    }

    /** Queues one attempt (at most one is queued at a time). */
    void retry() {
      if (queued.compareAndSet(false, true)) {
        try {
          attempts.execute(this::attempt);
        } catch (java.util.concurrent.RejectedExecutionException e) {
          queued.set(false); // shutting down
        }
      }
    }

    private void attempt() {
      queued.set(false); // a change from now on queues another attempt
      synchronized (this) {
        if (done) {
          return;
        }
        Optional<ClaimResponse> r;
        try {
          r = claims.attempt(caller, req);
        } catch (RuntimeException e) {
          end();
          result.setErrorResult(e); // database down: 503 like any other request
          return;
        }
        if (r.isPresent()) {
          end();
          result.setResult(ResponseEntity.ok(r.get()));
        }
      }
    }

    /** The wait is over (deadline, container timeout or shutdown): 204. */
    synchronized void expire() {
      if (!done) {
        end();
        claims.empty();
        result.setResult(ResponseEntity.noContent().build());
      }
    }

    /** The request completed or failed (the client went away). */
    synchronized void forget() {
      if (!done) {
        end();
      }
    }

    private void end() {
      done = true;
      if (waiting.remove(this)) {
        count.decrementAndGet();
      }
      if (deadline != null) {
        deadline.cancel(false);
      }
      if (poll != null) {
        poll.cancel(false);
      }
    }

    @Override
    public int compareTo(Waiter o) {
      return Long.compare(seq, o.seq);
    }
  }
}
