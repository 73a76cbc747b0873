package dev.distill.service.worker;

import dev.distill.service.auth.Caller;
import dev.distill.service.config.DistillProperties;
import dev.distill.service.config.EndpointAllowList;
import dev.distill.service.job.JobStatus;
import dev.distill.service.job.JobTasks;
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
import dev.distill.spec.protocol.ClaimedTask;
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

  /**
   * The best claimable job: QUEUED, or RUNNING with a claimable task (a queued shard, or the queued
   * seal once every shard succeeded), matching the worker, every dependency SUCCEEDED. Locked.
   */
  private static final String PICK =
      """
      SELECT j.id, EXISTS (SELECT 1 FROM job_tasks t WHERE t.job_id = j.id) AS tasked FROM jobs j
      WHERE j.project = ?
        AND (j.status = 'QUEUED' OR (j.status = 'RUNNING' AND EXISTS (%s)))
        AND (j.req_device IS NULL OR j.req_device = ?)
        AND (j.req_min_memory_mb IS NULL OR j.req_min_memory_mb <= ?)
        AND j.req_labels <@ ?::jsonb
        AND NOT EXISTS (SELECT 1 FROM job_dependencies d JOIN jobs p ON p.id = d.depends_on
                        WHERE d.job_id = j.id AND p.status <> 'SUCCEEDED')
      ORDER BY j.priority DESC, j.queued_at, j.id
      LIMIT 1
      FOR UPDATE OF j SKIP LOCKED
      """;

  /** A claimable task of job {@code j.id}: a queued shard, or the queued seal after every shard. */
  private static final String CLAIMABLE_TASK =
      """
      SELECT t.idx FROM job_tasks t WHERE t.job_id = j.id AND t.status = 'QUEUED'
        AND (t.kind = 'shard' OR NOT EXISTS (SELECT 1 FROM job_tasks s WHERE s.job_id = t.job_id
                                             AND s.kind = 'shard' AND s.status <> 'SUCCEEDED'))
      """;

  /** Leases the picked job without tasks: RUNNING, a new attempt, a new epoch. */
  private static final String LEASE_JOB =
      """
      UPDATE jobs j SET status = 'RUNNING', attempts = j.attempts + 1, epoch = j.epoch + 1,
        lease_id = gen_random_uuid(), lease_expires_at = now() + make_interval(secs => ?),
        worker_id = ?, started_at = COALESCE(j.started_at, now()), updated_at = now()
      WHERE j.id = ?
      RETURNING j.id, j.project, j.spec, j.attempts, j.max_attempts, j.lease_id,
        j.lease_expires_at, j.epoch,
        EXTRACT(EPOCH FROM now() - j.queued_at)::float8 AS queue_wait_seconds
      """;

  /**
   * Leases task {@code idx} of the picked job: the task RUNNING with a new attempt and a lease
   * whose epoch is the job's next (epochs stay unique per job, so that events and {@code
   * job_leases} of tasks never collide).
   */
  private static final String LEASE_TASK =
      """
      WITH e AS (UPDATE jobs SET epoch = epoch + 1, started_at = COALESCE(started_at, now()),
                   updated_at = now() WHERE id = ? RETURNING epoch)
      UPDATE job_tasks t SET status = 'RUNNING', attempts = t.attempts + 1, epoch = e.epoch,
        lease_id = gen_random_uuid(), lease_expires_at = now() + make_interval(secs => ?),
        worker_id = ?, updated_at = now()
      FROM e WHERE t.job_id = ? AND t.idx = ?
      RETURNING t.idx, t.kind, t.attempts, t.lease_id, t.lease_expires_at, t.epoch
      """;

  private final JdbcTemplate jdbc;
  private final TransactionTemplate tx;
  private final JobTransitions transitions;
  private final QueueMetrics metrics;
  private final DistillProperties props;
  private final ObjectMapper mapper;
  private final EndpointAllowList endpoints;
  private final JobTasks tasks;

  ClaimService(
      JdbcTemplate jdbc,
      TransactionTemplate tx,
      JobTransitions transitions,
      JobTasks tasks,
      QueueMetrics metrics,
      DistillProperties props,
      ObjectMapper mapper) {
    this.jdbc = jdbc;
    this.tx = tx;
    this.transitions = transitions;
    this.tasks = tasks;
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
    List<Map<String, Object>> picked =
        jdbc.queryForList(
            PICK.formatted(CLAIMABLE_TASK),
            caller.project(),
            req.capabilities().device(),
            req.capabilities().memoryMb(),
            mapper.writeValueAsString(req.capabilities().labels()));
    if (picked.isEmpty()) {
      return Optional.empty();
    }
    UUID id = (UUID) picked.get(0).get("id");
    double ttl = (double) props.leaseTtl().toMillis() / 1000.0;
    Map<String, Object> row;
    ClaimedTask task = null;
    if (Boolean.TRUE.equals(picked.get(0).get("tasked"))) {
      Optional<Map<String, Object>> leased = leaseTask(id, ttl, req.workerId());
      if (leased.isEmpty()) {
        return Optional.empty(); // every claimable task is being claimed by another worker
      }
      row = leased.get();
      task = (ClaimedTask) row.get("task");
    } else {
      JobStatus.check(JobStatus.QUEUED, JobStatus.RUNNING);
      row = jdbc.queryForList(LEASE_JOB, ttl, req.workerId(), id).get(0);
      transitions.recordStatusEvent(
          id, JobStatus.QUEUED, JobStatus.RUNNING, "claimed by worker " + req.workerId());
    }
    jdbc.update(
        "INSERT INTO job_leases (lease_id, job_id, epoch, attempt, worker_id)"
            + " VALUES (?, ?, ?, ?, ?)",
        row.get("lease_id"),
        id,
        ((Number) row.get("epoch")).longValue(),
        ((Number) row.get("attempts")).intValue(),
        req.workerId());
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
            resume.isEmpty() ? null : resume.get(0),
            task);
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

  /**
   * Leases the lowest claimable task of job {@code id} (its row locked by the pick): a QUEUED job
   * becomes RUNNING with its first task (the claim's one status write, checked against the table).
   * Empty when another claim holds every claimable task. The answer's row has the job's columns a
   * claim needs and the task.
   */
  private Optional<Map<String, Object>> leaseTask(UUID id, double ttl, String workerId) {
    List<Map<String, Object>> free =
        jdbc.queryForList(
            CLAIMABLE_TASK
                    .replace("j.id", "?")
                    .replace(
                        "SELECT t.idx",
                        "SELECT t.idx, EXTRACT(EPOCH FROM now() - t.updated_at)::float8 AS wait")
                + " ORDER BY t.idx LIMIT 1 FOR UPDATE OF t SKIP LOCKED",
            id);
    if (free.isEmpty()) {
      return Optional.empty();
    }
    int idx = ((Number) free.get(0).get("idx")).intValue();
    Map<String, Object> job =
        jdbc.queryForMap("SELECT status, project, spec, max_attempts FROM jobs WHERE id = ?", id);
    if (JobStatus.QUEUED.name().equals(job.get("status"))) {
      JobStatus.check(JobStatus.QUEUED, JobStatus.RUNNING);
      jdbc.update(
          "UPDATE jobs SET status = 'RUNNING', worker_id = NULL WHERE id = ? AND status = 'QUEUED'",
          id);
      transitions.recordStatusEvent(
          id, JobStatus.QUEUED, JobStatus.RUNNING, "its first task claimed by worker " + workerId);
    }
    Map<String, Object> t = jdbc.queryForList(LEASE_TASK, id, ttl, workerId, id, idx).get(0);
    int attempts = ((Number) t.get("attempts")).intValue();
    jdbc.update("UPDATE jobs SET attempts = greatest(attempts, ?) WHERE id = ?", attempts, id);
    int shards =
        jdbc.queryForObject(
            "SELECT count(*) FROM job_tasks WHERE job_id = ? AND kind = 'shard'",
            Integer.class,
            id);
    ClaimedTask task = new ClaimedTask((Integer) t.get("idx"), shards, (String) t.get("kind"));
    tasks.recordEvent(id, task.index(), JobStatus.QUEUED, JobStatus.RUNNING, "claimed", workerId);
    // another worker may take the next task at once
    transitions.notifyQueue(id);
    Map<String, Object> row = new java.util.HashMap<>(job);
    row.putAll(t);
    row.put("id", id);
    row.put("task", task);
    row.put("queue_wait_seconds", free.get(0).get("wait"));
    return Optional.of(row);
  }
}
