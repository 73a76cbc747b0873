package dev.distill.service.job;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/** The shapes of a job's history: events, metric series and checkpoints, as the API shows them. */
public final class JobActivity {
  private JobActivity() {}

  /**
   * One row of the job's history.
   *
   * @param id increasing; pass the last one seen as {@code after}
   * @param kind {@code status} for transitions, else what the worker sent
   * @param seq the worker's sequence number (null for status events)
   */
  public record Event(
      long id,
      Instant ts,
      int attempt,
      Long seq,
      String kind,
      String level,
      String message,
      Map<String, Object> data) {}

  public record EventPage(List<Event> items, Long nextAfter) {}

  public record Point(long step, double value, Instant ts) {}

  /** Series by name, each ordered by step. */
  public record Metrics(Map<String, List<Point>> series) {}

  public record CheckpointView(
      String uri,
      long step,
      long sizeBytes,
      String sha256,
      Map<String, Double> metrics,
      @JsonProperty("final") boolean isFinal,
      int attempt,
      Instant createdAt,
      boolean best,
      @JsonInclude(JsonInclude.Include.NON_NULL) BestBy bestBy) {}

  /**
   * Why a checkpoint is its job's best: the evaluate job ({@code checkpoints.select: all}) that
   * chose it, by which metric and direction, and the metric's value there.
   */
  public record BestBy(String metric, String mode, double value, UUID evaluation) {}

  public record CheckpointList(List<CheckpointView> items) {}
}
