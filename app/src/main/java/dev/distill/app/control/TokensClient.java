package dev.distill.app.control;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import tools.jackson.databind.JsonNode;

/** The token API ({@code /v1/tokens}, docs/api.md): the one place that knows its paths. */
public final class TokensClient {

  private final ApiClient api;

  public TokensClient(ApiClient api) {
    this.api = api;
  }

  /**
   * Creates a token; the answer holds the secret, shown only this once.
   *
   * @param project the project it is bound to (only the caller's own); null for the caller's
   * @param ttl how long it stays valid, ISO-8601 such as {@code PT12H}; null for no expiry
   */
  public JsonNode create(String name, String role, String project, String ttl) {
    Map<String, String> body = new LinkedHashMap<>();
    body.put("name", name);
    body.put("role", role);
    if (project != null) {
      body.put("project", project);
    }
    if (ttl != null) {
      body.put("ttl", ttl);
    }
    return api.post("v1/tokens", body);
  }

  /** The project's tokens: names, roles, dates; never the secrets. */
  public JsonNode list() {
    return api.get("v1/tokens");
  }

  /** Revokes a token: it is refused from its next request on. */
  public void revoke(String id) {
    api.send("DELETE", "v1/tokens/" + ApiClient.q(id), null, Map.of(), Duration.ofSeconds(30));
  }
}
