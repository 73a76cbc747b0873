package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Body of {@code POST /v1/worker/leases/{lease_id}/heartbeat}.
 *
 * @param epoch the lease's fencing token
 * @param step the step the worker is at, if training (informational)
 */
public record HeartbeatRequest(@JsonProperty("epoch") Long epoch, @JsonProperty("step") Long step) {

  public HeartbeatRequest {
    Checks c = new Checks();
    c.require("epoch", epoch);
    c.throwIfAny();
  }
}
