package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Body of {@code POST /v1/worker/claims}: a worker asks for the next job it can run.
 *
 * @param workerId the worker's stable id, 1..128 characters of {@code [A-Za-z0-9._:-]}
 * @param capabilities what the worker offers
 * @param waitSeconds how long the call may wait for a job (long poll), 0..30, default 0
 */
public record ClaimRequest(
    @JsonProperty("worker_id") String workerId,
    @JsonProperty("capabilities") WorkerCapabilities capabilities,
    @JsonProperty("wait_seconds") Integer waitSeconds) {

  public static final int MAX_WAIT_SECONDS = 30;

  public ClaimRequest {
    capabilities = capabilities == null ? new WorkerCapabilities(null, null, null) : capabilities;
    waitSeconds = waitSeconds == null ? 0 : waitSeconds;
    Checks c = new Checks();
    c.require("worker_id", workerId);
    c.check(
        workerId == null || workerId.matches("[A-Za-z0-9._:-]{1,128}"),
        "worker_id",
        "must be 1..128 characters of A-Z a-z 0-9 . _ : -");
    c.range("wait_seconds", waitSeconds, 0, MAX_WAIT_SECONDS);
    c.throwIfAny();
  }
}
