package dev.distill.service.job;

import dev.distill.service.auth.Caller;
import dev.distill.service.web.ApiException;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RequestAttribute;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.mvc.method.annotation.SseEmitter;

/**
 * {@code /v1/jobs/{id}/events}, {@code /metrics} and {@code /checkpoints}. Events with {@code
 * Accept: text/event-stream} follow live until the job has finished and every event was sent.
 */
@RestController
class JobActivityController {

  private static final long FOLLOW_POLL_MILLIS = 300;
  private static final long KEEPALIVE_NANOS = 15_000_000_000L;
  private final JobActivityService activity;
  private final ExecutorService streams =
      Executors.newCachedThreadPool(
          r -> {
            Thread t = new Thread(r, "distill-sse");
            t.setDaemon(true);
            return t;
          });

  JobActivityController(JobActivityService activity) {
    this.activity = activity;
  }

  @jakarta.annotation.PreDestroy
  void stopStreams() {
    streams.shutdownNow();
  }

  @GetMapping(path = "/v1/jobs/{id}/events", produces = MediaType.APPLICATION_JSON_VALUE)
  JobActivity.EventPage events(
      @PathVariable("id") UUID id,
      @RequestParam(name = "after", defaultValue = "0") long after,
      @RequestParam(name = "limit", defaultValue = "100") int limit,
      @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    checkLimit(limit, 1000);
    return activity.events(caller, id, after, limit);
  }

  @GetMapping(path = "/v1/jobs/{id}/events", produces = MediaType.TEXT_EVENT_STREAM_VALUE)
  SseEmitter follow(
      @PathVariable("id") UUID id,
      @RequestParam(name = "after", defaultValue = "0") long after,
      @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    activity.events(caller, id, after, 1); // 404 before the stream starts
    SseEmitter emitter = new SseEmitter(0L);
    AtomicBoolean open = new AtomicBoolean(true);
    emitter.onCompletion(() -> open.set(false));
    emitter.onTimeout(() -> open.set(false));
    emitter.onError(e -> open.set(false));
    streams.submit(
        () -> {
          long cursor = after;
          long lastSent = System.nanoTime();
          try {
            while (open.get()) {
              boolean finished = activity.finished(id);
              JobActivity.EventPage page = activity.eventsUnchecked(id, cursor, 500);
              for (JobActivity.Event e : page.items()) {
                emitter.send(SseEmitter.event().id(Long.toString(e.id())).name(e.kind()).data(e));
              }
              cursor = page.nextAfter();
              if (!page.items().isEmpty()) {
                lastSent = System.nanoTime();
              } else {
                if (finished) {
                  emitter.complete();
                  return;
                }
                if (System.nanoTime() - lastSent > KEEPALIVE_NANOS) {
                  emitter.send(SseEmitter.event().comment("keepalive")); // finds closed clients
                  lastSent = System.nanoTime();
                }
                Thread.sleep(FOLLOW_POLL_MILLIS);
              }
            }
          } catch (IOException | IllegalStateException e) {
            emitter.completeWithError(e);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            emitter.complete();
          }
        });
    return emitter;
  }

  @GetMapping("/v1/jobs/{id}/metrics")
  JobActivity.Metrics metrics(
      @PathVariable("id") UUID id,
      @RequestParam(name = "names", required = false) String names,
      @RequestParam(name = "after_step", defaultValue = "-1") long afterStep,
      @RequestParam(name = "limit", defaultValue = "10000") int limit,
      @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    checkLimit(limit, 100_000);
    List<String> list =
        names == null || names.isBlank()
            ? List.of()
            : Arrays.stream(names.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
    return activity.metrics(caller, id, list, afterStep, limit);
  }

  @GetMapping("/v1/jobs/{id}/checkpoints")
  JobActivity.CheckpointList checkpoints(
      @PathVariable("id") UUID id, @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    return activity.checkpoints(caller, id);
  }

  private static void checkLimit(int limit, int max) {
    if (limit < 1 || limit > max) {
      throw ApiException.badParameter("limit", "must be between 1 and " + max + ", was " + limit);
    }
  }
}
