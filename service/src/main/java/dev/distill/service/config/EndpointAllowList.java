package dev.distill.service.config;

import dev.distill.spec.Endpoints;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The OpenAI-compatible endpoints specs may name ({@code distill.endpoints}, {@code
 * DISTILL_ENDPOINTS}: {@code name=base URL} entries, comma-separated): by name, their canonical
 * base URL ({@link Endpoints#canonical}). An {@code openai:} reference must spell one of these base
 * URLs (compared canonically); any other host, port or path is refused, so a spec cannot make a
 * worker send requests anywhere else. The worker finds the key of an endpoint by its name.
 */
public final class EndpointAllowList {

  /** An endpoint name: also the suffix of the worker's key variable and the key file's name. */
  public static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9_-]{0,62}");

  private final Map<String, String> byName;

  private EndpointAllowList(Map<String, String> byName) {
    this.byName = Collections.unmodifiableMap(byName);
  }

  /**
   * @param entries {@code name=base URL}
   * @throws IllegalArgumentException naming the entry when one is malformed or a name repeats
   */
  public static EndpointAllowList of(List<String> entries) {
    Map<String, String> out = new LinkedHashMap<>();
    for (String raw : entries == null ? List.<String>of() : entries) {
      String entry = raw.trim();
      if (entry.isEmpty()) {
        continue;
      }
      int eq = entry.indexOf('=');
      String name = eq < 0 ? "" : entry.substring(0, eq).trim();
      if (!NAME.matcher(name).matches()) {
        throw new IllegalArgumentException(
            "distill.endpoints: each entry is name=base URL with a name matching "
                + NAME.pattern()
                + ", was '"
                + entry
                + "'");
      }
      String url;
      try {
        url = Endpoints.canonical(entry.substring(eq + 1).trim());
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "distill.endpoints: the base URL of '" + name + "' " + e.getMessage());
      }
      if (out.put(name, url) != null) {
        throw new IllegalArgumentException("distill.endpoints: '" + name + "' is named twice");
      }
    }
    return new EndpointAllowList(out);
  }

  /** Canonical base URL by name. */
  public Map<String, String> byName() {
    return byName;
  }

  /** The name of the endpoint a reference's base URL is, if it is allow-listed. */
  public Optional<String> nameOf(String canonicalBaseUrl) {
    return byName.entrySet().stream()
        .filter(e -> e.getValue().equals(canonicalBaseUrl))
        .map(Map.Entry::getKey)
        .findFirst();
  }
}
