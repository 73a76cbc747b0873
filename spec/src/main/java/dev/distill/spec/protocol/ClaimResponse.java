package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.time.Instant;
import java.util.Map;
import java.util.UUID;

/**
 * 200 answer of {@code POST /v1/worker/claims}. The worker sends {@code epoch} with every write
 * under {@code /v1/worker/leases/{lease_id}/...}; a write of an older epoch gets 409.
 *
 * @param job what to run
 * @param leaseId the lease to heartbeat and write under
 * @param leaseExpiresAt when the lease ends unless extended (database clock)
 * @param epoch the fencing token of this lease
 * @param artifacts for each {@code job:<id>} the spec references: that job's output
 * @param endpoints for each {@code openai:} reference of the spec: its canonical base URL to the
 *     endpoint's name in the service's allow-list, by which the worker finds its key
 */
public record ClaimResponse(
    @JsonProperty("job") ClaimedJob job,
    @JsonProperty("lease_id") UUID leaseId,
    @JsonProperty("lease_expires_at") Instant leaseExpiresAt,
    @JsonProperty("epoch") long epoch,
    @JsonProperty("artifacts") Map<String, Artifact> artifacts,
    @JsonProperty("endpoints") Map<String, String> endpoints) {

  public ClaimResponse {
    endpoints = endpoints == null ? Map.of() : Map.copyOf(endpoints);
  }

  /** A claim without endpoint references. */
  public ClaimResponse(
      ClaimedJob job,
      UUID leaseId,
      Instant leaseExpiresAt,
      long epoch,
      Map<String, Artifact> artifacts) {
    this(job, leaseId, leaseExpiresAt, epoch, artifacts, null);
  }
}
