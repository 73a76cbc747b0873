package dev.distill.service.worker;

import dev.distill.service.auth.Caller;
import dev.distill.service.config.DistillProperties;
import dev.distill.service.config.EndpointAllowList;
import dev.distill.service.job.JobStatus;
import dev.distill.service.job.JobTransitions;
import dev.distill.service.metrics.QueueMetrics;
import dev.distill.spec.CheckpointSelection;
import dev.distill.spec.Endpoints;
import dev.distill.spec.FileRefs;
import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import dev.distill.spec.protocol.Artifact;
import dev.distill.spec.protocol.ClaimRequest;
import dev.distill.spec.protocol.ClaimResponse;
import dev.distill.spec.protocol.ClaimedJob;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Service;
import org.springframework.transaction.support.TransactionTemplate;
import tools.jackson.databind.ObjectMapper;

/**
 * Hands queued jobs to workers. One claim is one short transaction: pick the best claimable job
 * ({@code FOR UPDATE SKIP LOCKED}, by priority then age, matching the worker's capabilities and
 * with every {@code job:} dependency SUCCEEDED), lease it and raise its epoch. Waiting ({@code
 * wait_seconds}) is {@link ClaimWaits}'s. The claim's {@code UPDATE ... SET status = 'RUNNING'} is
 * the one status write outside {@code job/JobTransitions}: picking and leasing the job must be one
 * statement; it is checked against the table with {@link JobStatus#check}.
 */
@Service
public class ClaimService {

  private static final String CLAIM =
      """
      WITH next AS (
        SELECT j.id FROM jobs j
        WHERE j.project = ? AND j.status = 'QUEUED'
          AND (j.req_device IS NULL OR j.req_device = ?)
          AND (j.req_min_memory_mb IS NULL OR j.req_min_memory_mb <= ?)
          AND j.req_labels <@ ?::jsonb
          AND NOT EXISTS (SELECT 1 FROM job_dependencies d JOIN jobs p ON p.id = d.depends_on
                          WHERE d.job_id = j.id AND p.status <> 'SUCCEEDED')
        ORDER BY j.priority DESC, j.queued_at, j.id
        LIMIT 1
        FOR UPDATE OF j SKIP LOCKED)
      UPDATE jobs j SET status = 'RUNNING', attempts = j.attempts + 1, epoch = j.epoch + 1,
        lease_id = gen_random_uuid(), lease_expires_at = now() + make_interval(secs => ?),
        worker_id = ?, started_at = COALESCE(j.started_at, now()), updated_at = now()
      FROM next WHERE j.id = next.id
      RETURNING j.id, j.project, j.spec, j.attempts, j.max_attempts, j.lease_id,
        j.lease_expires_at, j.epoch,
        EXTRACT(EPOCH FROM now() - j.queued_at)::float8 AS queue_wait_seconds
      """;

  private final JdbcTemplate jdbc;
  private final TransactionTemplate tx;
  private final JobTransitions transitions;
  private final QueueMetrics metrics;
  private final DistillProperties props;
  private final ObjectMapper mapper;
  private final EndpointAllowList endpoints;

  ClaimService(
      JdbcTemplate jdbc,
      TransactionTemplate tx,
      JobTransitions transitions,
      QueueMetrics metrics,
      DistillProperties props,
      ObjectMapper mapper) {
    this.jdbc = jdbc;
    this.tx = tx;
    this.transitions = transitions;
    this.metrics = metrics;
    this.props = props;
    this.mapper = mapper;
    this.endpoints = props.endpointAllowList();
  }

  /** Registers (or refreshes) the worker in the caller's project. */
  public void register(Caller caller, ClaimRequest req) {
    jdbc.update(
        "INSERT INTO workers (project, id, device, memory_mb, labels, last_heartbeat_at)"
            + " VALUES (?, ?, ?, ?, ?, now()) ON CONFLICT (project, id) DO UPDATE SET"
            + " device = excluded.device, memory_mb = excluded.memory_mb,"
            + " labels = excluded.labels, last_heartbeat_at = now()",
        caller.project(),
        req.workerId(),
        req.capabilities().device(),
        req.capabilities().memoryMb(),
        mapper.writeValueAsString(new TreeMap<>(req.capabilities().labels())));
  }

  /** One claim attempt, in its own transaction; empty when nothing is claimable now. */
  Optional<ClaimResponse> attempt(Caller caller, ClaimRequest req) {
    long t0 = System.nanoTime();
    Optional<ClaimResponse> r = tx.execute(s -> tryClaim(caller, req));
    metrics.claimAttempt(Duration.ofNanos(System.nanoTime() - t0));
    return r;
  }

  /** A claim that waited and found nothing. */
  void empty() {
    metrics.emptyClaim();
  }

  private Optional<ClaimResponse> tryClaim(Caller caller, ClaimRequest req) {
    List<Map<String, Object>> rows =
        jdbc.queryForList(
            CLAIM,
            caller.project(),
            req.capabilities().device(),
            req.capabilities().memoryMb(),
            mapper.writeValueAsString(req.capabilities().labels()),
            (double) props.leaseTtl().toMillis() / 1000.0,
            req.workerId());
    if (rows.isEmpty()) {
      return Optional.empty();
    }
    Map<String, Object> row = rows.get(0);
    UUID id = (UUID) row.get("id");
    JobStatus.check(JobStatus.QUEUED, JobStatus.RUNNING);
    jdbc.update(
        "INSERT INTO job_leases (lease_id, job_id, epoch, attempt, worker_id)"
            + " VALUES (?, ?, ?, ?, ?)",
        row.get("lease_id"),
        id,
        ((Number) row.get("epoch")).longValue(),
        ((Number) row.get("attempts")).intValue(),
        req.workerId());
    transitions.recordStatusEvent(
        id, JobStatus.QUEUED, JobStatus.RUNNING, "claimed by worker " + req.workerId());
    jdbc.update(
        "UPDATE workers SET current_job_id = ? WHERE project = ? AND id = ?",
        id,
        caller.project(),
        req.workerId());
    Map<String, Artifact> artifacts = new TreeMap<>();
    jdbc.query(
        "SELECT DISTINCT ON (c.job_id) c.job_id, c.uri, c.step, c.sha256, c.size_bytes"
            + " FROM checkpoints c JOIN job_dependencies d ON d.depends_on = c.job_id"
            + " WHERE d.job_id = ? AND c.deleted_at IS NULL"
            + " ORDER BY c.job_id, c.is_final DESC, c.step DESC, c.id DESC",
        rs -> {
          artifacts.put(
              rs.getString(1),
              new Artifact(rs.getString(2), rs.getLong(3), rs.getString(4), rs.getLong(5)));
        },
        id);
    List<Artifact> resume =
        jdbc.query(
            "SELECT uri, step, sha256, size_bytes FROM checkpoints WHERE job_id = ?"
                + " AND deleted_at IS NULL ORDER BY step DESC, id DESC LIMIT 1",
            (rs, i) -> new Artifact(rs.getString(1), rs.getLong(2), rs.getString(3), rs.getLong(4)),
            id);
    JobSpec spec = mapper.readValue((String) row.get("spec"), JobSpec.class);
    if (spec.checkpoints() != null
        && spec.checkpoints().all()
        && spec.student() != null
        && spec.student().uri().startsWith(ModelRef.JOB)) {
      // every live checkpoint of the student job, one per step (the final one where both share it)
      String student = spec.student().target();
      jdbc.query(
          "SELECT DISTINCT ON (c.step) c.step, c.uri, c.sha256, c.size_bytes FROM checkpoints c"
              + " JOIN job_dependencies d ON d.depends_on = c.job_id"
              + " WHERE d.job_id = ? AND c.job_id::text = ? AND c.deleted_at IS NULL"
              + " ORDER BY c.step, c.is_final DESC, c.id DESC",
          rs -> {
            long step = rs.getLong(1);
            artifacts.put(
                CheckpointSelection.artifactKey(student, step),
                new Artifact(rs.getString(2), step, rs.getString(3), rs.getLong(4)));
          },
          id,
          student);
    }
    ClaimedJob job =
        new ClaimedJob(
            id,
            (String) row.get("project"),
            spec,
            ((Number) row.get("attempts")).intValue(),
            ((Number) row.get("max_attempts")).intValue(),
            resume.isEmpty() ? null : resume.get(0));
    Map<String, String> endpointNames = new TreeMap<>();
    FileRefs.references(job.spec())
        .values()
        .forEach(
            uri -> {
              if (Endpoints.isEndpoint(uri)) {
                String base = Endpoints.baseUrl(uri);
                endpoints.nameOf(base).ifPresent(name -> endpointNames.put(base, name));
              }
            });
    java.sql.Timestamp expires = (java.sql.Timestamp) row.get("lease_expires_at");
    metrics.claimed(((Number) row.get("queue_wait_seconds")).doubleValue());
    return Optional.of(
        new ClaimResponse(
            job,
            (UUID) row.get("lease_id"),
            expires.toInstant(),
            ((Number) row.get("epoch")).longValue(),
            artifacts,
            endpointNames));
  }
}
