package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/**
 * Body of {@code POST /v1/worker/leases/{lease_id}/metrics}; points are upserted on (job, name,
 * step), so resending a batch is harmless.
 *
 * @param epoch the lease's fencing token
 * @param points 1..10000 points
 */
public record MetricBatch(
    @JsonProperty("epoch") Long epoch, @JsonProperty("points") List<MetricPoint> points) {

  public MetricBatch {
    points = points == null ? List.of() : List.copyOf(points);
    Checks c = new Checks();
    c.require("epoch", epoch);
    c.check(!points.isEmpty() && points.size() <= 10_000, "points", "must hold 1..10000 points");
    c.throwIfAny();
  }
}
