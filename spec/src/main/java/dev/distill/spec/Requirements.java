package dev.distill.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Locale;
import java.util.Map;

/**
 * What a worker must have to claim a job. Absent fields ask for nothing.
 *
 * @param device {@code cpu} or {@code cuda}; absent means any
 * @param minMemoryMb the least memory the worker must report, in MiB
 * @param labels labels the worker must carry with equal values (for example {@code pool: research})
 */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
public record Requirements(
    @JsonProperty("device") String device,
    @JsonProperty("min_memory_mb") Long minMemoryMb,
    @JsonProperty("labels") Map<String, String> labels) {

  public Requirements {
    device = device == null ? null : device.toLowerCase(Locale.ROOT);
    labels = labels == null ? Map.of() : Map.copyOf(labels);
  }

  public static Requirements none() {
    return new Requirements(null, null, null);
  }

  void check(Violations v) {
    if (device != null && !Catalog.DEVICES.contains(device)) {
      v.add("device", Catalog.oneOf(Catalog.DEVICES, device));
    }
    v.range("min_memory_mb", minMemoryMb, 0, 1L << 40);
    v.storable("labels", labels);
    if (labels.size() > 32) {
      v.add("labels", "at most 32 labels");
    }
  }
}
