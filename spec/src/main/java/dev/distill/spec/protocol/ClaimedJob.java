package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.distill.spec.JobSpec;
import java.util.UUID;

/**
 * The job as a worker receives it in a claim.
 *
 * @param id the job id
 * @param project the job's project
 * @param spec the normalised spec (defaults filled)
 * @param attempt which attempt this is, 1-based
 * @param maxAttempts attempts allowed in total
 * @param resumeFrom the job's latest checkpoint from an earlier attempt, or absent
 * @param task the task this claim runs when the job runs as tasks, or absent (the whole job)
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ClaimedJob(
    @JsonProperty("id") UUID id,
    @JsonProperty("project") String project,
    @JsonProperty("spec") JobSpec spec,
    @JsonProperty("attempt") int attempt,
    @JsonProperty("max_attempts") int maxAttempts,
    @JsonProperty("resume_from") Artifact resumeFrom,
    @JsonProperty("task") ClaimedTask task) {

  /** The whole job, not a task of it. */
  public ClaimedJob(
      UUID id, String project, JobSpec spec, int attempt, int maxAttempts, Artifact resumeFrom) {
    this(id, project, spec, attempt, maxAttempts, resumeFrom, null);
  }
}
