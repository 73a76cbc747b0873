package dev.distill.app.control;

import dev.distill.spec.protocol.BatchResponse;
import dev.distill.spec.protocol.CheckpointRegistration;
import dev.distill.spec.protocol.ClaimRequest;
import dev.distill.spec.protocol.ClaimResponse;
import dev.distill.spec.protocol.CompleteRequest;
import dev.distill.spec.protocol.EventBatch;
import dev.distill.spec.protocol.FailRequest;
import dev.distill.spec.protocol.HeartbeatRequest;
import dev.distill.spec.protocol.HeartbeatResponse;
import dev.distill.spec.protocol.MetricBatch;
import dev.distill.spec.protocol.ReleaseRequest;
import java.net.URI;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import tools.jackson.databind.JsonNode;

/**
 * The worker protocol ({@code /v1/worker/...}, docs/api.md) as typed calls: the one place that
 * knows its paths. Every call takes and returns the {@code spec} protocol records; a refusal or an
 * unreachable service is an {@link ApiException} ({@link ApiException#retryable()} tells which).
 */
public final class WorkerClient {

  /** The slack beyond the long-poll wait before a claim counts as unanswered. */
  private static final Duration CLAIM_SLACK = Duration.ofSeconds(15);

  private final ApiClient api;

  public WorkerClient(URI base, String token) {
    this.api = new ApiClient(base, token);
  }

  public URI base() {
    return api.base();
  }

  /** Long-polls for a job; empty when none came within the request's wait. */
  public Optional<ClaimResponse> claim(ClaimRequest request) {
    JsonNode body =
        api.send(
            "POST",
            "v1/worker/claims",
            request,
            Map.of(),
            Duration.ofSeconds(request.waitSeconds() == null ? 0 : request.waitSeconds())
                .plus(CLAIM_SLACK));
    return body.isEmpty()
        ? Optional.empty()
        : Optional.of(ApiClient.JSON.treeToValue(body, ClaimResponse.class));
  }

  public HeartbeatResponse heartbeat(UUID lease, HeartbeatRequest request) {
    return as(api.post(lease(lease, "heartbeat"), request), HeartbeatResponse.class);
  }

  public BatchResponse events(UUID lease, EventBatch batch) {
    return as(api.post(lease(lease, "events"), batch), BatchResponse.class);
  }

  public BatchResponse metrics(UUID lease, MetricBatch batch) {
    return as(api.post(lease(lease, "metrics"), batch), BatchResponse.class);
  }

  public void checkpoint(UUID lease, CheckpointRegistration registration) {
    api.post(lease(lease, "checkpoints"), registration);
  }

  public void complete(UUID lease, CompleteRequest request) {
    api.post(lease(lease, "complete"), request);
  }

  public void fail(UUID lease, FailRequest request) {
    api.post(lease(lease, "fail"), request);
  }

  /** Gives the job back to the queue without spending an attempt (shutdown). */
  public void release(UUID lease, ReleaseRequest request) {
    api.post(lease(lease, "release"), request);
  }

  private static String lease(UUID lease, String action) {
    return "v1/worker/leases/" + lease + "/" + action;
  }

  private static <T> T as(JsonNode body, Class<T> type) {
    return ApiClient.JSON.treeToValue(body, type);
  }
}
