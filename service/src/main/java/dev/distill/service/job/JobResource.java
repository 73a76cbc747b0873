package dev.distill.service.job;

import dev.distill.spec.JobSpec;
import java.time.Instant;
import java.util.Map;
import java.util.UUID;

/**
 * A job as the REST API shows it (JSON snake_case).
 *
 * @param latestMetrics the value at the highest step of every metric series
 * @param outputUri the final checkpoint of a SUCCEEDED job
 * @param waitingReason why a QUEUED job is not claimed, when the service can tell: today {@code
 *     no_worker_fits}, no live worker of its device and labels has its {@code min_memory_mb}
 *     ({@link FleetFit}); null otherwise
 */
public record JobResource(
    UUID id,
    String project,
    String type,
    JobStatus status,
    JobSpec spec,
    int priority,
    int attempts,
    int maxAttempts,
    Instant createdAt,
    Instant updatedAt,
    Instant startedAt,
    Instant finishedAt,
    String failureReason,
    Boolean retryable,
    String workerId,
    Map<String, Double> latestMetrics,
    String outputUri,
    FleetFit.WaitingReason waitingReason) {

  static JobResource of(
      Job j, JobSpec spec, Map<String, Double> latestMetrics, FleetFit.WaitingReason waiting) {
    return new JobResource(
        j.id,
        j.project,
        j.type,
        j.status,
        spec,
        j.priority,
        j.attempts,
        j.maxAttempts,
        j.createdAt,
        j.updatedAt,
        j.startedAt,
        j.finishedAt,
        j.failureReason,
        j.retryable,
        j.workerId,
        latestMetrics,
        j.outputUri,
        waiting);
  }
}
