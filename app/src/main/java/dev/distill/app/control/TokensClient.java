package dev.distill.app.control;

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
   * @param project the project it is bound to; null for the caller's
   */
  public JsonNode create(String name, String role, String project) {
    Map<String, String> body = new LinkedHashMap<>();
    body.put("name", name);
    body.put("role", role);
    if (project != null) {
      body.put("project", project);
    }
    return api.post("v1/tokens", body);
  }
}
