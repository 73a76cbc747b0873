package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Body of {@code POST /v1/worker/leases/{lease_id}/release}: the worker gives the job back without
 * having failed it (it is shutting down). A RUNNING job is queued again and the attempt does not
 * count against {@code max_attempts}; a CANCELLING job ends CANCELLED.
 *
 * @param epoch the lease's fencing token
 * @param reason why, 1..4096 characters, for example {@code shut down at step 120}
 */
public record ReleaseRequest(
    @JsonProperty("epoch") Long epoch, @JsonProperty("reason") String reason) {

  public ReleaseRequest {
    Checks c = new Checks();
    c.require("epoch", epoch);
    c.requiredText("reason", reason, 4096);
    c.throwIfAny();
  }
}
