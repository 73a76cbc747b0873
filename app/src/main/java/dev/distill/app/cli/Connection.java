package dev.distill.app.cli;

import dev.distill.app.control.ApiClient;
import dev.distill.app.control.JobsClient;
import dev.distill.app.control.TokensClient;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import picocli.CommandLine.Option;

/**
 * Options shared by the commands that call the service: where it is, the token, the output format.
 */
final class Connection {

  enum Output {
    table,
    json
  }

  @Option(
      names = "--url",
      description = "Service base URL (env DISTILL_URL, default http://localhost:8080).")
  String url;

  @Option(
      names = "--token",
      description =
          "Bearer token (env DISTILL_TOKEN; else the embedded service's admin-token file under DISTILL_HOME).")
  String token;

  @Option(
      names = {"-o", "--output"},
      description = "Output format: ${COMPLETION-CANDIDATES} (default table).")
  Output output = Output.table;

  ApiClient client() {
    String env = System.getenv("DISTILL_URL");
    String u = url != null ? url : env != null && !env.isBlank() ? env.trim() : DEFAULT_URL;
    return new ApiClient(baseUri(url != null ? "--url" : "DISTILL_URL", u), resolveToken());
  }

  JobsClient jobs() {
    return new JobsClient(client());
  }

  TokensClient tokens() {
    return new TokensClient(client());
  }

  static final String DEFAULT_URL = "http://localhost:8080";

  /**
   * The base URL with a trailing slash.
   *
   * @param source where the value came from, named in the error
   * @throws IllegalArgumentException naming the source and the value when it is not an http(s) URL
   *     with a host
   */
  static URI baseUri(String source, String u) {
    String bad =
        source + ": '" + u + "' is not an http(s) URL with a host, for example " + DEFAULT_URL;
    URI uri;
    try {
      uri = new URI(u.endsWith("/") ? u : u + "/");
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException(bad, e);
    }
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!(scheme.equals("http") || scheme.equals("https")) || uri.getHost() == null) {
      throw new IllegalArgumentException(bad);
    }
    return uri;
  }

  private String resolveToken() {
    if (token != null) {
      return token;
    }
    String env = System.getenv("DISTILL_TOKEN");
    if (env != null && !env.isBlank()) {
      return env.trim();
    }
    Path file = home().resolve("admin-token");
    try {
      return Files.isReadable(file) ? Files.readString(file).trim() : null;
    } catch (IOException e) {
      return null;
    }
  }

  /** {@code DISTILL_HOME}, default {@code ~/.distill}. */
  static Path home() {
    String h = System.getenv("DISTILL_HOME");
    return h != null && !h.isBlank()
        ? Path.of(h)
        : Path.of(System.getProperty("user.home"), ".distill");
  }

  boolean json() {
    return output == Output.json;
  }
}
