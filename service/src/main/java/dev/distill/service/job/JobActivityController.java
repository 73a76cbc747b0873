package dev.distill.service.job;

import dev.distill.service.auth.Caller;
import dev.distill.service.web.ApiException;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RequestAttribute;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.mvc.method.annotation.SseEmitter;

/**
 * {@code /v1/jobs/{id}/events}, {@code /metrics} and {@code /checkpoints}. Events with {@code
 * Accept: text/event-stream} follow live until the job has finished and every event was sent
 * ({@link EventStreams}).
 */
@RestController
class JobActivityController {

  private final JobActivityService activity;
  private final EventStreams streams;

  JobActivityController(JobActivityService activity, EventStreams streams) {
    this.activity = activity;
    this.streams = streams;
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
    return streams.follow(id, after);
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
