package dev.distill.service.job;

import dev.distill.service.config.DistillProperties;
import dev.distill.service.web.Unavailable;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.annotation.PreDestroy;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.springframework.context.event.ContextClosedEvent;
import org.springframework.context.event.EventListener;
import org.springframework.stereotype.Component;
import org.springframework.web.servlet.mvc.method.annotation.SseEmitter;

/**
 * The live follow of a job's events ({@code text/event-stream}). Streams hold no thread: two shared
 * threads look for new events of every open stream every {@value #POLL_MILLIS} ms. At most {@code
 * distill.event-streams.max} are open at once (one more gets 503 with {@code Retry-After}); a
 * stream ends when the job has finished and every event was sent, after {@code
 * distill.event-streams.timeout}, when the client leaves (found by the keepalive comment at the
 * latest), or when the service shuts down.
 */
@Component
class EventStreams {

  static final long POLL_MILLIS = 300;
  private final JobActivityService activity;
  private final DistillProperties.EventStreams settings;
  private final ScheduledExecutorService pollers =
      Executors.newScheduledThreadPool(
          2,
          r -> {
            Thread t = new Thread(r, "distill-sse");
            t.setDaemon(true);
            return t;
          });
  private final Set<Stream> open = ConcurrentHashMap.newKeySet();
  private final AtomicInteger count = new AtomicInteger();
  private volatile boolean closing;

  EventStreams(JobActivityService activity, DistillProperties props, MeterRegistry meters) {
    this.activity = activity;
    this.settings = props.eventStreams();
    Gauge.builder("distill.event.streams.open", count, AtomicInteger::get)
        .description("Open text/event-stream follows (at most distill.event-streams.max)")
        .register(meters);
  }

  /** How many streams are open now. */
  int open() {
    return count.get();
  }

  /** Follows job {@code id} from event id {@code after}; the caller checked access. */
  SseEmitter follow(UUID id, long after) {
    if (closing) {
      throw new Unavailable("the service is shutting down; follow again later");
    }
    if (count.incrementAndGet() > settings.max()) {
      count.decrementAndGet();
      throw new Unavailable(
          settings.max()
              + " event streams are open already (distill.event-streams.max); try again later");
    }
    Stream s = new Stream(id, after, new SseEmitter(settings.timeout().toMillis()));
    open.add(s);
    s.emitter.onCompletion(s::close);
    s.emitter.onTimeout(s::complete);
    s.emitter.onError(e -> s.close());
    s.start();
    return s.emitter;
  }

  /** Ends every stream when the context starts closing, before the web server drains. */
  @EventListener(ContextClosedEvent.class)
  void closeAll() {
    closing = true;
    for (Stream s : open) {
      s.complete();
    }
  }

  @PreDestroy
  void stop() {
    pollers.shutdownNow();
  }

  private final class Stream {
    final UUID id;
    final SseEmitter emitter;
    final AtomicBoolean closed = new AtomicBoolean();
    long cursor; // only the poll task touches these two
    long lastSent = System.nanoTime();
    volatile ScheduledFuture<?> task;

    Stream(UUID id, long after, SseEmitter emitter) {
      this.id = id;
      this.cursor = after;
      this.emitter = emitter;
    }

    void start() {
      task = pollers.scheduleWithFixedDelay(this::poll, 0, POLL_MILLIS, TimeUnit.MILLISECONDS);
      if (closed.get()) {
        task.cancel(false); // closed before the task was set
      }
    }

    private void poll() {
      if (closed.get()) {
        return;
      }
      try {
        boolean finished = activity.finished(id);
        JobActivity.EventPage page = activity.eventsUnchecked(id, cursor, 500);
        for (JobActivity.Event e : page.items()) {
          emitter.send(SseEmitter.event().id(Long.toString(e.id())).name(e.kind()).data(e));
        }
        cursor = page.nextAfter();
        if (!page.items().isEmpty()) {
          lastSent = System.nanoTime();
        } else if (finished) {
          complete();
        } else if (System.nanoTime() - lastSent > settings.keepalive().toNanos()) {
          emitter.send(SseEmitter.event().comment("keepalive")); // finds clients that left
          lastSent = System.nanoTime();
        }
      } catch (Exception e) {
        // the client left (IOException), or the database is down: end the stream
        close();
        emitter.completeWithError(e);
      }
    }

    void complete() {
      close();
      emitter.complete();
    }

    void close() {
      if (closed.compareAndSet(false, true)) {
        open.remove(this);
        count.decrementAndGet();
        ScheduledFuture<?> t = task;
        if (t != null) {
          t.cancel(false);
        }
      }
    }
  }
}
