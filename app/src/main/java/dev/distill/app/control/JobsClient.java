package dev.distill.app.control;

import java.time.Duration;
import java.util.Map;
import tools.jackson.databind.JsonNode;

/**
 * The user-facing job API ({@code /v1/jobs}, docs/api.md) as calls: the one place that knows its
 * paths and query parameters. Answers stay JSON trees, because the command line shows what the
 * service says without a second copy of its resources.
 */
public final class JobsClient {

  private final ApiClient api;

  public JobsClient(ApiClient api) {
    this.api = api;
  }

  /**
   * Submits a job.
   *
   * @param spec the spec as JSON text, or any object serialised as JSON
   * @param idempotencyKey retrying with the same key returns the same job; null for none
   */
  public JsonNode submit(Object spec, String idempotencyKey) {
    Map<String, String> headers =
        idempotencyKey == null ? Map.of() : Map.of("Idempotency-Key", idempotencyKey);
    return api.send("POST", "v1/jobs", spec, headers, Duration.ofSeconds(30));
  }

  /** A page of jobs, newest first; null filters are left out. */
  public JsonNode list(String status, String type, int limit, String after) {
    StringBuilder path = new StringBuilder("v1/jobs?limit=").append(limit);
    if (status != null) {
      path.append("&status=").append(ApiClient.q(status));
    }
    if (type != null) {
      path.append("&type=").append(ApiClient.q(type));
    }
    if (after != null) {
      path.append("&after=").append(ApiClient.q(after));
    }
    return api.get(path.toString());
  }

  public JsonNode job(String id) {
    return api.get(job(id, ""));
  }

  public JsonNode cancel(String id) {
    return api.post(job(id, "/cancel"), null);
  }

  /** Up to {@code limit} events after the cursor ({@code null}: from the first). */
  public JsonNode events(String id, String after, int limit) {
    return api.get(
        job(id, "/events?limit=" + limit + (after == null ? "" : "&after=" + ApiClient.q(after))));
  }

  /**
   * The named series.
   *
   * @param names comma-separated series names
   * @param afterStep only steps after this one; negative for all
   */
  public JsonNode metrics(String id, String names, long afterStep) {
    return api.get(
        job(
            id,
            "/metrics?names="
                + ApiClient.q(names)
                + (afterStep >= 0 ? "&after_step=" + afterStep : "")));
  }

  public JsonNode checkpoints(String id) {
    return api.get(job(id, "/checkpoints"));
  }

  private static String job(String id, String rest) {
    return "v1/jobs/" + ApiClient.q(id) + rest;
  }
}
