package dev.distill.service.job;

import com.fasterxml.jackson.annotation.JsonInclude;
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
 * @param tasks for a job that runs as tasks (a {@code teacher_pass} with {@code shards >= 2}): how
 *     many there are by status and the sequences they did; absent otherwise
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
    FleetFit.WaitingReason waitingReason,
    @JsonInclude(JsonInclude.Include.NON_NULL) JobTasks.TaskCounts tasks) {

  static JobResource of(
      Job j,
      JobSpec spec,
      Map<String, Double> latestMetrics,
      FleetFit.WaitingReason waiting,
      JobTasks.TaskCounts tasks) {
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
        waiting,
        tasks);
  }
}
