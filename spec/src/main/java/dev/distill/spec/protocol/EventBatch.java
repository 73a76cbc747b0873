package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/**
 * Body of {@code POST /v1/worker/leases/{lease_id}/events}.
 *
 * @param epoch the lease's fencing token
 * @param events 1..1000 events
 */
public record EventBatch(
    @JsonProperty("epoch") Long epoch, @JsonProperty("events") List<WorkerEvent> events) {

  public EventBatch {
    events = events == null ? List.of() : List.copyOf(events);
    Checks c = new Checks();
    c.require("epoch", epoch);
    c.check(!events.isEmpty() && events.size() <= 1000, "events", "must hold 1..1000 events");
    c.throwIfAny();
  }
}
