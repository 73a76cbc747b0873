package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Body of {@code POST /v1/worker/leases/{lease_id}/complete}: the attempt succeeded. The job's
 * output is its checkpoint registered with {@code final: true}, or else its highest step.
 *
 * @param epoch the lease's fencing token
 */
public record CompleteRequest(@JsonProperty("epoch") Long epoch) {

  public CompleteRequest {
    Checks c = new Checks();
    c.require("epoch", epoch);
    c.throwIfAny();
  }
}
