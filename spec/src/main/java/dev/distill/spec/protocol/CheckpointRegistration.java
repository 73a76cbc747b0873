package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Map;

/**
 * Body of {@code POST /v1/worker/leases/{lease_id}/checkpoints}: a checkpoint the worker wrote.
 * Registering the same uri again updates it.
 *
 * @param epoch the lease's fencing token
 * @param uri where it is ({@code file:} absolute path)
 * @param step the step it was written at
 * @param sizeBytes total size
 * @param sha256 hex SHA-256 (64 lower-case hex characters)
 * @param metrics validation metrics at that step, optional
 * @param isFinal true for the job's output; otherwise the highest step is the output
 */
public record CheckpointRegistration(
    @JsonProperty("epoch") Long epoch,
    @JsonProperty("uri") String uri,
    @JsonProperty("step") Long step,
    @JsonProperty("size_bytes") Long sizeBytes,
    @JsonProperty("sha256") String sha256,
    @JsonProperty("metrics") Map<String, Double> metrics,
    @JsonProperty("final") Boolean isFinal) {

  public CheckpointRegistration {
    metrics = metrics == null ? Map.of() : Map.copyOf(metrics);
    isFinal = isFinal != null && isFinal;
    Checks c = new Checks();
    c.require("epoch", epoch);
    c.require("uri", uri);
    c.check(
        uri == null || (uri.startsWith("file:/") && !uri.contains("/../") && !uri.endsWith("/..")),
        "uri",
        "must be a file: absolute path without '..'");
    c.text("uri", uri, 2048);
    c.storable("metrics", metrics);
    c.require("step", step);
    c.range("step", step, 0, Long.MAX_VALUE);
    c.require("size_bytes", sizeBytes);
    c.range("size_bytes", sizeBytes, 0, Long.MAX_VALUE);
    c.require("sha256", sha256);
    c.check(
        sha256 == null || sha256.matches("[0-9a-f]{64}"),
        "sha256",
        "must be 64 lower-case hex characters");
    c.throwIfAny();
  }
}
