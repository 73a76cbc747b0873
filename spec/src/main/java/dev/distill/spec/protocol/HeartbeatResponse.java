package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.time.Instant;

/**
 * Answer to a heartbeat.
 *
 * @param leaseExpiresAt the extended expiry (database clock)
 * @param cancelRequested true when a user asked to cancel: stop, then call {@code fail} with {@code
 *     cancelled: true}
 * @param status the job's status ({@code RUNNING} or {@code CANCELLING})
 */
public record HeartbeatResponse(
    @JsonProperty("lease_expires_at") Instant leaseExpiresAt,
    @JsonProperty("cancel_requested") boolean cancelRequested,
    @JsonProperty("status") String status) {}
