package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.time.Instant;

/**
 * One value of a step series, for example {@code {"step": 10, "name": "loss", "value": 2.3}}.
 *
 * @param step the optimiser step, at least 0
 * @param name series name, 1..64 of {@code [a-z0-9_./-]}
 * @param value a finite number
 * @param ts when it was measured (worker clock); default now
 */
public record MetricPoint(
    @JsonProperty("step") Long step,
    @JsonProperty("name") String name,
    @JsonProperty("value") Double value,
    @JsonProperty("ts") Instant ts) {

  public MetricPoint {
    Checks c = new Checks();
    c.require("step", step);
    c.range("step", step, 0, Long.MAX_VALUE);
    c.require("name", name);
    c.check(
        name == null || name.matches("[a-z0-9_./-]{1,64}"),
        "name",
        "must be 1..64 of a-z 0-9 _ . / -");
    c.timestamp("ts", ts);
    c.require("value", value);
    c.check(value == null || Double.isFinite(value), "value", "must be a finite number");
    c.throwIfAny();
  }
}
