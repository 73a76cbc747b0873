package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Body of {@code POST /v1/worker/leases/{lease_id}/complete}: the attempt succeeded. The job's
 * output is its checkpoint registered with {@code final: true}, or else its highest step.
 *
 * @param epoch the lease's fencing token
 * @param progress for a task's lease: the sequences it did (its share of the job's progress); may
 *     be absent
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record CompleteRequest(
    @JsonProperty("epoch") Long epoch, @JsonProperty("progress") Long progress) {

  public CompleteRequest(Long epoch) {
    this(epoch, null);
  }

  public CompleteRequest {
    Checks c = new Checks();
    c.require("epoch", epoch);
    if (progress != null) {
      c.range("progress", progress, 0, Long.MAX_VALUE);
    }
    c.throwIfAny();
  }
}
