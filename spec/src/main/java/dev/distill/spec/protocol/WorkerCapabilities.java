package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Locale;
import java.util.Map;

/**
 * What a worker offers; a job's {@link dev.distill.spec.Requirements} are matched against it.
 *
 * @param device {@code cpu} or {@code cuda}
 * @param memoryMb memory available to a job, in MiB
 * @param labels free labels, matched with equal values against a job's required labels
 */
public record WorkerCapabilities(
    @JsonProperty("device") String device,
    @JsonProperty("memory_mb") Long memoryMb,
    @JsonProperty("labels") Map<String, String> labels) {

  public WorkerCapabilities {
    device = device == null ? "cpu" : device.toLowerCase(Locale.ROOT);
    memoryMb = memoryMb == null ? 0L : memoryMb;
    labels = labels == null ? Map.of() : Map.copyOf(labels);
    Checks c = new Checks();
    c.check(
        device.equals("cpu") || device.equals("cuda"),
        "device",
        "must be cpu or cuda, was '" + device + "'");
    c.range("memory_mb", memoryMb, 0, 1L << 40);
    c.check(labels.size() <= 32, "labels", "at most 32 labels");
    c.storable("labels", labels);
    c.throwIfAny();
  }
}
