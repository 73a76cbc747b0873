package dev.distill.app.endpoint;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The keys of the endpoints a worker may call, by the endpoint's name in the service's allow-list:
 * the environment variable {@code DISTILL_ENDPOINT_KEY_<NAME>} (upper case, {@code -} as {@code
 * _}), else the file {@code <DISTILL_ENDPOINT_KEYS_DIR>/<name>} (a mounted secret with one entry
 * per endpoint). No key means none is sent (a local vLLM or Ollama). A key is never in a spec.
 */
public final class EndpointKeys {

  /** The directory of key files. */
  public static final String KEYS_DIR_VARIABLE = "DISTILL_ENDPOINT_KEYS_DIR";

  /** The prefix of key variables. */
  public static final String KEY_VARIABLE_PREFIX = "DISTILL_ENDPOINT_KEY_";

  private final Map<String, String> env;
  private final Path dir;

  public EndpointKeys(Map<String, String> env) {
    this.env = Map.copyOf(env);
    String d = env.get(KEYS_DIR_VARIABLE);
    this.dir = d == null || d.isBlank() ? null : Path.of(d);
  }

  /** The variable that holds an endpoint's key. */
  public static String variable(String name) {
    return KEY_VARIABLE_PREFIX + name.toUpperCase(Locale.ROOT).replace('-', '_');
  }

  /** The key of the endpoint {@code name}, if one is configured. */
  public Optional<String> key(String name) {
    String v = env.get(variable(name));
    if (v != null && !v.isBlank()) {
      return Optional.of(v.strip());
    }
    if (dir != null) {
      Path f = dir.resolve(name);
      if (Files.isRegularFile(f)) {
        try {
          String k = Files.readString(f, StandardCharsets.UTF_8).strip();
          return k.isEmpty() ? Optional.empty() : Optional.of(k);
        } catch (IOException e) {
          throw new UncheckedIOException("cannot read the key file of endpoint " + name, e);
        }
      }
    }
    return Optional.empty();
  }
}
