package dev.distill.service.worker;

import dev.distill.service.auth.Caller;
import dev.distill.service.config.DistillProperties;
import dev.distill.service.job.JobStatus;
import dev.distill.service.job.JobTransitions;
import dev.distill.service.metrics.QueueMetrics;
import dev.distill.service.web.ApiException;
import dev.distill.spec.protocol.CheckpointRegistration;
import dev.distill.spec.protocol.EventBatch;
import dev.distill.spec.protocol.FailRequest;
import dev.distill.spec.protocol.HeartbeatResponse;
import dev.distill.spec.protocol.MetricBatch;
import dev.distill.spec.protocol.MetricPoint;
import dev.distill.spec.protocol.WorkerEvent;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import org.springframework.http.HttpStatus;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;
import tools.jackson.databind.ObjectMapper;

/**
 * Everything a worker writes under a lease. Each write first locks the job row by its current lease
 * id and checks the epoch: a lease that expired and was reaped or reclaimed, or a wrong epoch, gets
 * 409 and changes nothing (fencing).
 */
@Service
public class LeaseService {

  /** The leased job as a write sees it. */
  record Lease(UUID jobId, JobStatus status, long epoch, int attempt, String workerId) {}

  private final JdbcTemplate jdbc;
  private final JobTransitions transitions;
  private final QueueMetrics metrics;
  private final DistillProperties props;
  private final ObjectMapper mapper;

  LeaseService(
      JdbcTemplate jdbc,
      JobTransitions transitions,
      QueueMetrics metrics,
      DistillProperties props,
      ObjectMapper mapper) {
    this.jdbc = jdbc;
    this.transitions = transitions;
    this.metrics = metrics;
    this.props = props;
    this.mapper = mapper;
  }

  /** Locks the job held by this lease, or throws 409 if the lease is no longer held. */
  Lease hold(Caller caller, UUID leaseId, long epoch) {
    List<Lease> rows =
        jdbc.query(
            "SELECT id, status, epoch, attempts, worker_id FROM jobs"
                + " WHERE lease_id = ? AND project = ? FOR UPDATE",
            (rs, i) ->
                new Lease(
                    rs.getObject(1, UUID.class),
                    JobStatus.valueOf(rs.getString(2)),
                    rs.getLong(3),
                    rs.getInt(4),
                    rs.getString(5)),
            leaseId,
            caller.project());
    if (rows.isEmpty() || !rows.get(0).status().isLeased()) {
      metrics.staleRejection();
      throw new ApiException(
          HttpStatus.CONFLICT,
          "lease-lost",
          "Lease no longer held",
          "lease " + leaseId + " is not held: it expired and was requeued, or the job ended");
    }
    Lease lease = rows.get(0);
    if (lease.epoch() != epoch) {
      metrics.staleRejection();
      throw new ApiException(
          HttpStatus.CONFLICT,
          "stale-epoch",
          "Stale epoch",
          "epoch " + epoch + " is not the lease's current epoch " + lease.epoch());
    }
    return lease;
  }

  @Transactional
  public HeartbeatResponse heartbeat(Caller caller, UUID leaseId, long epoch) {
    Lease lease = hold(caller, leaseId, epoch);
    Timestamp expires =
        jdbc.queryForObject(
            "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => ?), updated_at = now()"
                + " WHERE id = ? RETURNING lease_expires_at",
            Timestamp.class,
            (double) props.leaseTtl().toMillis() / 1000.0,
            lease.jobId());
    touchWorker(caller, lease);
    return new HeartbeatResponse(
        expires.toInstant(), lease.status() == JobStatus.CANCELLING, lease.status().name());
  }

  /**
   * Stores events; ones already stored (same attempt and seq) are ignored. Returns how many new.
   */
  @Transactional
  public int events(Caller caller, UUID leaseId, EventBatch batch) {
    Lease lease = hold(caller, leaseId, batch.epoch());
    int added = 0;
    for (WorkerEvent e : batch.events()) {
      added +=
          jdbc.update(
              "INSERT INTO job_events (job_id, attempt, seq, ts, kind, level, message, data)"
                  + " VALUES (?, ?, ?, ?, ?, ?, ?, ?::jsonb)"
                  + " ON CONFLICT (job_id, attempt, seq) DO NOTHING",
              lease.jobId(),
              lease.attempt(),
              e.seq(),
              Timestamp.from(e.ts() == null ? Instant.now() : e.ts()),
              e.kind(),
              e.level(),
              e.message(),
              e.data() == null ? null : mapper.writeValueAsString(e.data()));
    }
    return added;
  }

  /** Upserts metric points on (job, name, step). */
  @Transactional
  public int metrics(Caller caller, UUID leaseId, MetricBatch batch) {
    Lease lease = hold(caller, leaseId, batch.epoch());
    List<Object[]> args =
        batch.points().stream()
            .map(
                (MetricPoint p) ->
                    new Object[] {
                      lease.jobId(),
                      p.name(),
                      p.step(),
                      p.value(),
                      Timestamp.from(p.ts() == null ? Instant.now() : p.ts())
                    })
            .toList();
    jdbc.batchUpdate(
        "INSERT INTO job_metrics (job_id, name, step, value, ts) VALUES (?, ?, ?, ?, ?)"
            + " ON CONFLICT (job_id, name, step) DO UPDATE SET value = excluded.value, ts = excluded.ts",
        args);
    return args.size();
  }

  @Transactional
  public void checkpoint(Caller caller, UUID leaseId, CheckpointRegistration c) {
    Lease lease = hold(caller, leaseId, c.epoch());
    jdbc.update(
        "INSERT INTO checkpoints (job_id, attempt, uri, step, size_bytes, sha256, metrics, is_final)"
            + " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, uri) DO UPDATE SET"
            + " attempt = excluded.attempt, step = excluded.step, size_bytes = excluded.size_bytes,"
            + " sha256 = excluded.sha256, metrics = excluded.metrics, is_final = excluded.is_final,"
            + " created_at = now()",
        lease.jobId(),
        lease.attempt(),
        c.uri(),
        c.step(),
        c.sizeBytes(),
        c.sha256(),
        mapper.writeValueAsString(new TreeMap<>(c.metrics())),
        c.isFinal());
  }

  /** The attempt succeeded: SUCCEEDED, with the output checkpoint as {@code output_uri}. */
  @Transactional
  public void complete(Caller caller, UUID leaseId, long epoch) {
    Lease lease = hold(caller, leaseId, epoch);
    jdbc.update(
        "UPDATE jobs SET output_uri = (SELECT uri FROM checkpoints WHERE job_id = ?"
            + " ORDER BY is_final DESC, step DESC, id DESC LIMIT 1) WHERE id = ?",
        lease.jobId(),
        lease.jobId());
    transitions.apply(
        lease.jobId(),
        lease.status(),
        JobStatus.SUCCEEDED,
        "completed by " + lease.workerId(),
        null);
  }

  /**
   * The attempt ended without success. RUNNING: queued again if retryable and attempts remain, else
   * FAILED. CANCELLING: CANCELLED if the worker stopped for the cancel, else FAILED.
   */
  @Transactional
  public void fail(Caller caller, UUID leaseId, FailRequest f) {
    Lease lease = hold(caller, leaseId, f.epoch());
    Map<String, Object> row =
        jdbc.queryForMap("SELECT attempts, max_attempts FROM jobs WHERE id = ?", lease.jobId());
    int attempts = ((Number) row.get("attempts")).intValue();
    int max = ((Number) row.get("max_attempts")).intValue();
    if (lease.status() == JobStatus.CANCELLING) {
      if (f.cancelled()) {
        transitions.apply(lease.jobId(), lease.status(), JobStatus.CANCELLED, f.reason(), null);
      } else {
        transitions.apply(lease.jobId(), lease.status(), JobStatus.FAILED, f.reason(), false);
      }
      return;
    }
    if (f.retryable() && attempts < max) {
      transitions.apply(
          lease.jobId(),
          lease.status(),
          JobStatus.QUEUED,
          "attempt " + attempts + " of " + max + " failed, retrying: " + f.reason(),
          null);
    } else {
      String reason =
          f.retryable()
              ? "attempt " + attempts + " of " + max + " failed, no attempts left: " + f.reason()
              : f.reason();
      transitions.apply(lease.jobId(), lease.status(), JobStatus.FAILED, reason, f.retryable());
    }
  }

  private void touchWorker(Caller caller, Lease lease) {
    if (lease.workerId() != null) {
      jdbc.update(
          "UPDATE workers SET last_heartbeat_at = now(), current_job_id = ?"
              + " WHERE project = ? AND id = ?",
          lease.jobId(),
          caller.project(),
          lease.workerId());
    }
  }
}
