package dev.distill.app.serve;

/**
 * How the server listens and whom it answers.
 *
 * @param host the address to bind ({@code 127.0.0.1} by default; {@code 0.0.0.0} for all)
 * @param port the port, 0 for any free one
 * @param maxConcurrency generation requests taken at once (one generates, the others wait their
 *     turn); one more is answered 429 at once
 * @param apiKey the bearer token every request must carry, or null for none
 */
public record ServeOptions(String host, int port, int maxConcurrency, String apiKey) {

  public ServeOptions {
    if (host == null || host.isBlank()) {
      throw new IllegalArgumentException("--host must not be empty");
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("--port=" + port + " must be from 0 to 65535");
    }
    if (maxConcurrency < 1 || maxConcurrency > 1024) {
      throw new IllegalArgumentException(
          "--max-concurrency=" + maxConcurrency + " must be from 1 to 1024");
    }
    if (apiKey != null && apiKey.isBlank()) {
      throw new IllegalArgumentException("the API key is empty");
    }
  }

  @Override
  public String toString() { // never the key
    return "ServeOptions[host="
        + host
        + ", port="
        + port
        + ", maxConcurrency="
        + maxConcurrency
        + ", apiKey="
        + (apiKey == null ? "none" : "set")
        + "]";
  }
}
