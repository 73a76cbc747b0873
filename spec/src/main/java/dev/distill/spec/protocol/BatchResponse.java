package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Answer to a batch of metric points or events. Batches go out every few seconds while a job
 * trains, so they also carry the cancel flag of the heartbeat: a worker learns of a cancel at its
 * next batch instead of its next heartbeat.
 *
 * @param accepted how many items were stored (new events; points upserted, or for late points the
 *     ones the job did not have yet)
 * @param leaseLost true when the batch was metric points sent under a lease that is no longer held
 *     (late points): they were stored only where the job had none, and the worker should stop
 * @param cancelRequested true when a user asked to cancel: stop, then call {@code fail} with {@code
 *     cancelled: true}
 */
public record BatchResponse(
    @JsonProperty("accepted") int accepted,
    @JsonProperty("lease_lost") Boolean leaseLost,
    @JsonProperty("cancel_requested") Boolean cancelRequested) {

  /** Absent flags (a service from before they existed) mean: lease held, no cancel. */
  public BatchResponse {
    leaseLost = leaseLost != null && leaseLost;
    cancelRequested = cancelRequested != null && cancelRequested;
  }
}
