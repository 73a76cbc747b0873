package dev.distill.service.worker;

import dev.distill.service.auth.Caller;
import dev.distill.service.config.DistillProperties;
import dev.distill.service.job.AttemptEnd;
import dev.distill.service.job.JobStatus;
import dev.distill.service.job.JobTasks;
import dev.distill.service.job.JobTransitions;
import dev.distill.service.metrics.QueueMetrics;
import dev.distill.service.web.ApiException;
import dev.distill.spec.JobSpec;
import dev.distill.spec.protocol.BatchResponse;
import dev.distill.spec.protocol.CheckpointRegistration;
import dev.distill.spec.protocol.EventBatch;
import dev.distill.spec.protocol.FailRequest;
import dev.distill.spec.protocol.HeartbeatResponse;
import dev.distill.spec.protocol.MetricBatch;
import dev.distill.spec.protocol.MetricPoint;
import dev.distill.spec.protocol.ReleaseRequest;
import dev.distill.spec.protocol.WorkerEvent;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.List;
import java.util.TreeMap;
import java.util.UUID;
import org.springframework.http.HttpStatus;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

/**
 * Everything a worker writes under a lease. Each write first locks the job row by its current lease
 * id and checks the epoch: a lease that expired (reaped or not yet), was reclaimed or ended, or a
 * wrong epoch, gets 409 and changes nothing (fencing). One exception: metric points sent under an
 * earlier lease of the job (late points, found in {@code job_leases}) are inserted where the job
 * has no point yet, never overwriting one, and the answer says {@code lease_lost}.
 *
 * <p>A lease is a job's ({@code jobs.lease_id}) or a task's ({@code job_tasks.lease_id}, a job that
 * runs as tasks: {@link JobTasks}): the same writes, fenced by the task's own epoch and expiry; a
 * task's end is decided for the task alone ({@link JobTasks#endTask}). Ends lock the job row before
 * the task's, as claims and the reaper do.
 */
@Service
public class LeaseService {

  /**
   * The leased job as a write sees it.
   *
   * @param status the job's status; for a task's lease the task's when it no longer runs
   * @param epoch the lease's epoch (a task's lease: the task's; so are attempt and workerId)
   * @param task the task's index, or null for a job's lease
   */
  record Lease(
      UUID jobId,
      JobStatus status,
      long epoch,
      int attempt,
      int maxAttempts,
      String workerId,
      Integer task) {}

  /** The metric of an evaluation over every checkpoint naming the step of the best. */
  static final String BEST_STEP = "best_step";

  private final JdbcTemplate jdbc;
  private final JobTransitions transitions;
  private final JobTasks tasks;
  private final QueueMetrics metrics;
  private final DistillProperties props;
  private final ObjectMapper mapper;

  LeaseService(
      JdbcTemplate jdbc,
      JobTransitions transitions,
      JobTasks tasks,
      QueueMetrics metrics,
      DistillProperties props,
      ObjectMapper mapper) {
    this.jdbc = jdbc;
    this.transitions = transitions;
    this.tasks = tasks;
    this.metrics = metrics;
    this.props = props;
    this.mapper = mapper;
  }

  /** Locks the job held by this lease, or throws 409 if the lease is no longer held. */
  Lease hold(Caller caller, UUID leaseId, long epoch) {
    return hold(caller, leaseId, epoch, false);
  }

  /**
   * @param ending true for an end (complete, fail, release): a task's job row is locked first
   */
  private Lease hold(Caller caller, UUID leaseId, long epoch, boolean ending) {
    Held held = lock(caller, leaseId, ending);
    ApiException refused = refusal(held, leaseId, epoch);
    if (refused != null) {
      metrics.staleRejection();
      throw refused;
    }
    return held.lease();
  }

  /** The job row of a current lease id, locked, with whether the lease expired; null if none. */
  private record Held(Lease lease, boolean expired) {}

  private Held lock(Caller caller, UUID leaseId, boolean ending) {
    Held job = lockJobLease(caller, leaseId);
    return job != null ? job : lockTaskLease(caller, leaseId, ending);
  }

  private Held lockTaskLease(Caller caller, UUID leaseId, boolean ending) {
    if (ending) {
      jdbc.queryForList(
          "SELECT j.id FROM jobs j JOIN job_tasks t ON t.job_id = j.id"
              + " WHERE t.lease_id = ? AND j.project = ? FOR UPDATE OF j",
          leaseId,
          caller.project());
    }
    List<Held> rows =
        jdbc.query(
            "SELECT t.job_id, j.status, t.status, t.epoch, t.attempts, j.max_attempts, t.worker_id,"
                + " t.lease_expires_at < now(), t.idx FROM job_tasks t JOIN jobs j ON j.id = t.job_id"
                + " WHERE t.lease_id = ? AND j.project = ? FOR UPDATE OF t",
            (rs, i) -> {
              JobStatus task = JobStatus.valueOf(rs.getString(3));
              return new Held(
                  new Lease(
                      rs.getObject(1, UUID.class),
                      task == JobStatus.RUNNING ? JobStatus.valueOf(rs.getString(2)) : task,
                      rs.getLong(4),
                      rs.getInt(5),
                      rs.getInt(6),
                      rs.getString(7),
                      rs.getInt(9)),
                  rs.getBoolean(8));
            },
            leaseId,
            caller.project());
    return rows.isEmpty() ? null : rows.get(0);
  }

  private Held lockJobLease(Caller caller, UUID leaseId) {
    List<Held> rows =
        jdbc.query(
            "SELECT id, status, epoch, attempts, max_attempts, worker_id, lease_expires_at < now()"
                + " FROM jobs"
                + " WHERE lease_id = ? AND project = ? FOR UPDATE",
            (rs, i) ->
                new Held(
                    new Lease(
                        rs.getObject(1, UUID.class),
                        JobStatus.valueOf(rs.getString(2)),
                        rs.getLong(3),
                        rs.getInt(4),
                        rs.getInt(5),
                        rs.getString(6),
                        null),
                    rs.getBoolean(7)),
            leaseId,
            caller.project());
    return rows.isEmpty() ? null : rows.get(0);
  }

  /** Why a write under this lease is refused (409), or null when the lease is held. */
  private static ApiException refusal(Held held, UUID leaseId, long epoch) {
    if (held == null || !held.lease().status().isLeased()) {
      return new ApiException(
          HttpStatus.CONFLICT,
          "lease-lost",
          "Lease no longer held",
          "lease " + leaseId + " is not held: it expired and was requeued, or the job ended");
    }
    if (held.expired()) {
      // by the database clock; the reaper requeues the job at its next pass
      return new ApiException(
          HttpStatus.CONFLICT,
          "lease-lost",
          "Lease no longer held",
          "lease " + leaseId + " expired; the job is requeued");
    }
    if (held.lease().epoch() != epoch) {
      return new ApiException(
          HttpStatus.CONFLICT,
          "stale-epoch",
          "Stale epoch",
          "epoch " + epoch + " is not the lease's current epoch " + held.lease().epoch());
    }
    return null;
  }

  @Transactional
  public HeartbeatResponse heartbeat(Caller caller, UUID leaseId, long epoch) {
    return heartbeat(caller, leaseId, epoch, null);
  }

  /**
   * Extends the lease. For a task's lease the {@code step} the worker reports is the task's
   * progress (sequences done), which the job's shows summed.
   */
  @Transactional
  public HeartbeatResponse heartbeat(Caller caller, UUID leaseId, long epoch, Long step) {
    Lease lease = hold(caller, leaseId, epoch);
    if (lease.task() != null) {
      Timestamp expires =
          jdbc.queryForObject(
              "UPDATE job_tasks SET lease_expires_at = now() + make_interval(secs => ?),"
                  + " progress = COALESCE(?, progress), updated_at = now()"
                  + " WHERE job_id = ? AND idx = ? RETURNING lease_expires_at",
              Timestamp.class,
              (double) props.leaseTtl().toMillis() / 1000.0,
              step,
              lease.jobId(),
              lease.task());
      touchWorker(caller, lease);
      return new HeartbeatResponse(
          expires.toInstant(), lease.status() == JobStatus.CANCELLING, lease.status().name());
    }
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
   * Stores events; ones already stored (same run, that is lease epoch, and seq) are ignored.
   * Answers how many were new and whether the job is being cancelled.
   */
  @Transactional
  public BatchResponse events(Caller caller, UUID leaseId, EventBatch batch) {
    Lease lease = hold(caller, leaseId, batch.epoch());
    int added = 0;
    for (WorkerEvent e : batch.events()) {
      added +=
          jdbc.update(
              "INSERT INTO job_events (job_id, attempt, epoch, seq, ts, kind, level, message, data)"
                  + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb)"
                  + " ON CONFLICT (job_id, epoch, seq) DO NOTHING",
              lease.jobId(),
              lease.attempt(),
              lease.epoch(),
              e.seq(),
              Timestamp.from(e.ts() == null ? Instant.now() : e.ts()),
              e.kind(),
              e.level(),
              e.message(),
              e.data() == null ? null : mapper.writeValueAsString(e.data()));
    }
    return new BatchResponse(added, false, lease.status() == JobStatus.CANCELLING);
  }

  /**
   * Upserts metric points on (job, name, step) under the current lease. Under an earlier lease of
   * the same job with that lease's epoch (a worker that lost its lease delivering what it buffered)
   * the points are late: only those the job has no point for are inserted, and the answer says
   * {@code lease_lost}. Anything else is refused like every other write.
   */
  @Transactional
  public BatchResponse metrics(Caller caller, UUID leaseId, MetricBatch batch) {
    Held held = lock(caller, leaseId, false);
    ApiException refused = refusal(held, leaseId, batch.epoch());
    if (refused == null) {
      Lease lease = held.lease();
      int n = insertPoints(lease.jobId(), batch, true);
      return new BatchResponse(n, false, lease.status() == JobStatus.CANCELLING);
    }
    List<UUID> earlier =
        jdbc.queryForList(
            "SELECT l.job_id FROM job_leases l JOIN jobs j ON j.id = l.job_id"
                + " WHERE l.lease_id = ? AND l.epoch = ? AND j.project = ?",
            UUID.class,
            leaseId,
            batch.epoch(),
            caller.project());
    if (earlier.isEmpty()) {
      metrics.staleRejection();
      throw refused;
    }
    return new BatchResponse(insertPoints(earlier.get(0), batch, false), true, false);
  }

  /**
   * @param overwrite true for the current lease (a resent batch upserts), false for late points
   * @return how many points were written
   */
  private int insertPoints(UUID jobId, MetricBatch batch, boolean overwrite) {
    List<Object[]> args =
        batch.points().stream()
            .map(
                (MetricPoint p) ->
                    new Object[] {
                      jobId,
                      p.name(),
                      p.step(),
                      p.value(),
                      Timestamp.from(p.ts() == null ? Instant.now() : p.ts())
                    })
            .toList();
    int[] counts =
        jdbc.batchUpdate(
            "INSERT INTO job_metrics (job_id, name, step, value, ts) VALUES (?, ?, ?, ?, ?)"
                + (overwrite
                    ? " ON CONFLICT (job_id, name, step) DO UPDATE SET value = excluded.value,"
                        + " ts = excluded.ts"
                    : " ON CONFLICT (job_id, name, step) DO NOTHING"),
            args);
    int n = 0;
    for (int c : counts) {
      n += Math.max(c, 0);
    }
    return n;
  }

  @Transactional
  public void checkpoint(Caller caller, UUID leaseId, CheckpointRegistration c) {
    Lease lease = hold(caller, leaseId, c.epoch());
    jdbc.update(
        "INSERT INTO checkpoints (job_id, attempt, uri, step, size_bytes, sha256, metrics, is_final)"
            + " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, uri) DO UPDATE SET"
            + " attempt = excluded.attempt, step = excluded.step, size_bytes = excluded.size_bytes,"
            + " sha256 = excluded.sha256, metrics = excluded.metrics, is_final = excluded.is_final,"
            + " created_at = now(), deleted_at = NULL",
        lease.jobId(),
        lease.attempt(),
        c.uri(),
        c.step(),
        c.sizeBytes(),
        c.sha256(),
        mapper.writeValueAsString(new TreeMap<>(c.metrics())),
        c.isFinal());
    // the worker deleted these directories (keep_checkpoints, or damaged on resume): not listed
    // any more; the one just registered exists whatever the list says
    List<String> deleted = c.deleted().stream().filter(u -> !u.equals(c.uri())).toList();
    if (!deleted.isEmpty()) {
      jdbc.update(
          "UPDATE checkpoints SET deleted_at = now() WHERE job_id = ? AND deleted_at IS NULL"
              + " AND uri = ANY (?)",
          ps -> {
            ps.setObject(1, lease.jobId());
            ps.setArray(2, ps.getConnection().createArrayOf("text", deleted.toArray()));
          });
    }
  }

  /** The attempt succeeded: SUCCEEDED, with the output checkpoint as {@code output_uri}. */
  @Transactional
  public void complete(Caller caller, UUID leaseId, long epoch) {
    complete(caller, leaseId, epoch, null);
  }

  /**
   * The same; for a task's lease the task succeeded ({@link JobTasks#completeTask}), with the
   * sequences it did as {@code progress}, and the job once every task has.
   */
  @Transactional
  public void complete(Caller caller, UUID leaseId, long epoch, Long progress) {
    Lease lease = hold(caller, leaseId, epoch, true);
    if (lease.task() != null) {
      tasks.completeTask(lease.jobId(), lease.task(), progress);
      return;
    }
    jdbc.update(
        "UPDATE jobs SET output_uri = (SELECT uri FROM checkpoints WHERE job_id = ?"
            + " AND deleted_at IS NULL ORDER BY is_final DESC, step DESC, id DESC LIMIT 1)"
            + " WHERE id = ?",
        lease.jobId(),
        lease.jobId());
    markBest(lease.jobId());
    transitions.apply(
        lease.jobId(),
        lease.status(),
        JobStatus.SUCCEEDED,
        "completed by " + lease.workerId(),
        null);
  }

  /**
   * An evaluate job with {@code checkpoints.select: all} completed: its output's {@code best_step}
   * names the best checkpoint of its student job, which is marked with the metric and its value
   * (the mark moves off any other checkpoint of that job). Without a {@code best_step} nothing is
   * marked.
   */
  private void markBest(UUID jobId) {
    JobSpec spec =
        mapper.readValue(
            jdbc.queryForObject("SELECT spec FROM jobs WHERE id = ?", String.class, jobId),
            JobSpec.class);
    if (spec.checkpoints() == null || !spec.checkpoints().all()) {
      return;
    }
    List<String> out =
        jdbc.queryForList(
            "SELECT metrics FROM checkpoints WHERE job_id = ? AND deleted_at IS NULL"
                + " ORDER BY is_final DESC, step DESC, id DESC LIMIT 1",
            String.class,
            jobId);
    if (out.isEmpty()) {
      return;
    }
    JsonNode metrics = mapper.readTree(out.get(0));
    String metric = spec.checkpoints().bestBy();
    if (!metrics.path(BEST_STEP).isNumber() || !metrics.path(metric).isNumber()) {
      return;
    }
    UUID student = UUID.fromString(spec.student().target());
    jdbc.update(
        "UPDATE checkpoints SET best_metric = NULL, best_mode = NULL, best_value = NULL,"
            + " best_evaluation = NULL WHERE job_id = ? AND best_metric IS NOT NULL",
        student);
    jdbc.update(
        "UPDATE checkpoints SET best_metric = ?, best_mode = ?, best_value = ?,"
            + " best_evaluation = ? WHERE id = (SELECT id FROM checkpoints WHERE job_id = ?"
            + " AND step = ? AND deleted_at IS NULL ORDER BY is_final DESC, id DESC LIMIT 1)",
        metric,
        spec.checkpoints().mode(),
        metrics.path(metric).asDouble(),
        jobId,
        student,
        metrics.path(BEST_STEP).asLong());
  }

  /**
   * The worker gives the job back (it is shutting down), after it checkpointed: {@link
   * AttemptEnd.Ending#RELEASED}.
   */
  @Transactional
  public void release(Caller caller, UUID leaseId, ReleaseRequest r) {
    Lease lease = hold(caller, leaseId, r.epoch(), true);
    end(
        lease,
        AttemptEnd.Ending.RELEASED,
        "released by worker " + lease.workerId() + ": " + r.reason());
  }

  /** The attempt ended without success; {@link AttemptEnd} decides what becomes of the job. */
  @Transactional
  public void fail(Caller caller, UUID leaseId, FailRequest f) {
    Lease lease = hold(caller, leaseId, f.epoch(), true);
    AttemptEnd.Ending ending =
        f.cancelled()
            ? AttemptEnd.Ending.STOPPED_FOR_CANCEL
            : f.retryable()
                ? AttemptEnd.Ending.FAILED_RETRYABLE
                : AttemptEnd.Ending.FAILED_FOR_GOOD;
    end(lease, ending, f.reason());
  }

  private void end(Lease lease, AttemptEnd.Ending ending, String reason) {
    if (lease.task() != null) {
      tasks.endTask(
          lease.jobId(),
          lease.task(),
          lease.status(),
          ending,
          lease.attempt(),
          lease.maxAttempts(),
          reason);
      return;
    }
    transitions.endAttempt(
        lease.jobId(), lease.status(), ending, lease.attempt(), lease.maxAttempts(), reason);
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
