package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.ArrayList;
import java.util.List;
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
 * @param deleted uris of this job's earlier checkpoints that the worker deleted since its previous
 *     registration (pruned by {@code keep_checkpoints}, or set aside as damaged on resume); the
 *     service stops listing them. Optional
 */
public record CheckpointRegistration(
    @JsonProperty("epoch") Long epoch,
    @JsonProperty("uri") String uri,
    @JsonProperty("step") Long step,
    @JsonProperty("size_bytes") Long sizeBytes,
    @JsonProperty("sha256") String sha256,
    @JsonProperty("metrics") Map<String, Double> metrics,
    @JsonProperty("final") Boolean isFinal,
    @JsonProperty("deleted") List<String> deleted) {

  /** At most this many deleted uris in one registration. */
  public static final int MAX_DELETED = 1000;

  /** A registration that reports no deletion. */
  public CheckpointRegistration(
      Long epoch,
      String uri,
      Long step,
      Long sizeBytes,
      String sha256,
      Map<String, Double> metrics,
      Boolean isFinal) {
    this(epoch, uri, step, sizeBytes, sha256, metrics, isFinal, null);
  }

  public CheckpointRegistration {
    metrics = metrics == null ? Map.of() : Map.copyOf(metrics);
    isFinal = isFinal != null && isFinal;
    deleted = deleted == null ? List.of() : new ArrayList<>(deleted); // nulls are reported below
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
    c.check(deleted.size() <= MAX_DELETED, "deleted", "must hold at most " + MAX_DELETED + " uris");
    for (int i = 0; i < deleted.size(); i++) {
      String d = deleted.get(i);
      c.check(
          d != null && d.startsWith("file:/") && !d.contains("/../") && !d.endsWith("/.."),
          "deleted[" + i + "]",
          "must be a file: absolute path without '..'");
      c.text("deleted[" + i + "]", d, 2048);
    }
    c.throwIfAny();
    deleted = List.copyOf(deleted);
  }
}
