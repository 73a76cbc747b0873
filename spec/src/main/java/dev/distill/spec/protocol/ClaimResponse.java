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
 */
public record ClaimResponse(
    @JsonProperty("job") ClaimedJob job,
    @JsonProperty("lease_id") UUID leaseId,
    @JsonProperty("lease_expires_at") Instant leaseExpiresAt,
    @JsonProperty("epoch") long epoch,
    @JsonProperty("artifacts") Map<String, Artifact> artifacts) {}
