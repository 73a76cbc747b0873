package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Body of {@code POST /v1/worker/leases/{lease_id}/fail}: the attempt ended without success.
 *
 * @param epoch the lease's fencing token
 * @param reason what went wrong, 1..4096 characters
 * @param retryable whether another attempt could succeed (then the job is queued again while
 *     attempts remain)
 * @param cancelled true when the worker stopped because the heartbeat said the job is being
 *     cancelled
 */
public record FailRequest(
    @JsonProperty("epoch") Long epoch,
    @JsonProperty("reason") String reason,
    @JsonProperty("retryable") Boolean retryable,
    @JsonProperty("cancelled") Boolean cancelled) {

  public FailRequest {
    retryable = retryable != null && retryable;
    cancelled = cancelled != null && cancelled;
    Checks c = new Checks();
    c.require("epoch", epoch);
    c.requiredText("reason", reason, 4096);
    c.throwIfAny();
  }
}
