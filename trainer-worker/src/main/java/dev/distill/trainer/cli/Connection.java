package dev.distill.trainer.cli;

import dev.distill.trainer.control.ApiClient;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
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
    String u =
        url != null ? url : System.getenv().getOrDefault("DISTILL_URL", "http://localhost:8080");
    return new ApiClient(URI.create(u.endsWith("/") ? u : u + "/"), resolveToken());
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
