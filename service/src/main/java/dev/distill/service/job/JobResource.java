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
    String outputUri) {

  static JobResource of(Job j, JobSpec spec, Map<String, Double> latestMetrics) {
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
        j.outputUri);
  }
}
