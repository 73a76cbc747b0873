package dev.distill.service.worker;

import dev.distill.service.auth.Caller;
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
import java.util.UUID;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestAttribute;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.context.request.async.DeferredResult;

/** The worker protocol, {@code /v1/worker/*} (worker tokens only). */
@RestController
class WorkerController {

  private static final String JSON = MediaType.APPLICATION_JSON_VALUE;
  private static final String LEASE = "/v1/worker/leases/{lease_id}";
  private final ClaimService claims;
  private final ClaimWaits waits;
  private final LeaseService leases;

  WorkerController(ClaimService claims, ClaimWaits waits, LeaseService leases) {
    this.claims = claims;
    this.waits = waits;
    this.leases = leases;
  }

  @PostMapping(path = "/v1/worker/register", consumes = JSON)
  ResponseEntity<Void> register(
      @RequestBody ClaimRequest req, @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    claims.register(caller, req);
    return ResponseEntity.noContent().build();
  }

  /**
   * 200 with a lease, or 204 when no job became claimable within {@code wait_seconds}; 503 with
   * {@code Retry-After} when too many claims wait already or the service is shutting down. The wait
   * holds no request thread.
   */
  @PostMapping(path = "/v1/worker/claims", consumes = JSON)
  DeferredResult<ResponseEntity<ClaimResponse>> claim(
      @RequestBody ClaimRequest req, @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    return waits.claim(caller, req);
  }

  @PostMapping(path = LEASE + "/heartbeat", consumes = JSON)
  HeartbeatResponse heartbeat(
      @PathVariable("lease_id") UUID leaseId,
      @RequestBody HeartbeatRequest req,
      @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    return leases.heartbeat(caller, leaseId, req.epoch(), req.step());
  }

  @PostMapping(path = LEASE + "/events", consumes = JSON)
  BatchResponse events(
      @PathVariable("lease_id") UUID leaseId,
      @RequestBody EventBatch batch,
      @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    return leases.events(caller, leaseId, batch);
  }

  /** Also takes late points of an earlier lease of the job ({@code lease_lost: true}). */
  @PostMapping(path = LEASE + "/metrics", consumes = JSON)
  BatchResponse metrics(
      @PathVariable("lease_id") UUID leaseId,
      @RequestBody MetricBatch batch,
      @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    return leases.metrics(caller, leaseId, batch);
  }

  @PostMapping(path = LEASE + "/checkpoints", consumes = JSON)
  ResponseEntity<Void> checkpoint(
      @PathVariable("lease_id") UUID leaseId,
      @RequestBody CheckpointRegistration body,
      @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    leases.checkpoint(caller, leaseId, body);
    return ResponseEntity.noContent().build();
  }

  @PostMapping(path = LEASE + "/complete", consumes = JSON)
  ResponseEntity<Void> complete(
      @PathVariable("lease_id") UUID leaseId,
      @RequestBody CompleteRequest body,
      @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    leases.complete(caller, leaseId, body.epoch(), body.progress());
    return ResponseEntity.noContent().build();
  }

  /** Gives the job back without counting the attempt (worker shutdown). */
  @PostMapping(path = LEASE + "/release", consumes = JSON)
  ResponseEntity<Void> release(
      @PathVariable("lease_id") UUID leaseId,
      @RequestBody ReleaseRequest body,
      @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    leases.release(caller, leaseId, body);
    return ResponseEntity.noContent().build();
  }

  @PostMapping(path = LEASE + "/fail", consumes = JSON)
  ResponseEntity<Void> fail(
      @PathVariable("lease_id") UUID leaseId,
      @RequestBody FailRequest body,
      @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    leases.fail(caller, leaseId, body);
    return ResponseEntity.noContent().build();
  }
}
