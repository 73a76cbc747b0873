package dev.distill.service.job;

import dev.distill.spec.JobSpec;
import dev.distill.spec.JobType;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;
import tools.jackson.databind.ObjectMapper;

/**
 * The tasks of a job that runs as several leases at once: a {@code teacher_pass} with {@code shards
 * >= 2} has one {@code shard} task per shard and one {@code seal} task, claimable once every shard
 * task succeeded, that seals the cache and registers the job's output (so the seal happens exactly
 * once, by the queue). Only such jobs have tasks: their parts are independent, while a training
 * job's steps follow each other and a one-shard pass is one part anyway.
 *
 * <p>A task has the lifecycle of a job without CANCELLING (its cancel is the job's): QUEUED ->
 * RUNNING (claimed) -> SUCCEEDED | QUEUED | FAILED | CANCELLED. How a task's lease ends is decided
 * by {@link AttemptEnd#decide}, given the job's status, exactly as for a job's lease; the job's
 * status follows from its tasks here, applied by {@link JobTransitions}:
 *
 * <pre>
 * QUEUED  -> RUNNING      at the first claim of a task (the claim's statement)
 * RUNNING -> FAILED       when a task fails for good or exhausts its attempts (its reason)
 * RUNNING, CANCELLING -> SUCCEEDED  when every task has succeeded (the seal last)
 * CANCELLING -> CANCELLED when no task runs any more (queued tasks are cancelled at once)
 * </pre>
 *
 * A job stays RUNNING from its first task claim until every task has ended, also while a requeued
 * task waits for a worker. Any terminal job status ends every task still queued or running ({@link
 * JobTransitions#apply}), so a cancel or a failure reaches every task: their next write is refused
 * (409) and their workers stop.
 */
@Component
public class JobTasks {

  /** A task's kinds. */
  public static final String SHARD = "shard";

  public static final String SEAL = "seal";

  /**
   * What {@code GET /v1/jobs/{id}} shows of a job's tasks.
   *
   * @param sequencesDone the sequences its tasks did, summed (each as its worker last reported)
   */
  public record TaskCounts(
      int total,
      int queued,
      int running,
      int succeeded,
      int failed,
      int cancelled,
      long sequencesDone) {}

  private final JdbcTemplate jdbc;
  private final JobTransitions transitions;
  private final ObjectMapper mapper;

  JobTasks(JdbcTemplate jdbc, JobTransitions transitions, ObjectMapper mapper) {
    this.jdbc = jdbc;
    this.transitions = transitions;
    this.mapper = mapper;
  }

  /** Whether a job of this spec runs as tasks. */
  public static boolean runsAsTasks(JobSpec spec) {
    return spec.type() == JobType.TEACHER_PASS && spec.teacherPass().shards() >= 2;
  }

  /** Inserts a new job's tasks, all QUEUED: the shards {@code 0..n-1}, then the seal {@code n}. */
  void create(UUID jobId, JobSpec spec) {
    int shards = spec.teacherPass().shards();
    jdbc.update(
        "INSERT INTO job_tasks (job_id, idx, kind, status)"
            + " SELECT ?, i, CASE WHEN i < ? THEN 'shard' ELSE 'seal' END, 'QUEUED'"
            + " FROM generate_series(0, ?) AS i",
        jobId,
        shards,
        shards);
  }

  /** Task counts of the jobs that have tasks, by job id. */
  Map<UUID, TaskCounts> counts(List<UUID> ids) {
    Map<UUID, TaskCounts> out = new HashMap<>();
    if (ids.isEmpty()) {
      return out;
    }
    jdbc.query(
        "SELECT job_id, count(*), count(*) FILTER (WHERE status = 'QUEUED'),"
            + " count(*) FILTER (WHERE status = 'RUNNING'),"
            + " count(*) FILTER (WHERE status = 'SUCCEEDED'),"
            + " count(*) FILTER (WHERE status = 'FAILED'),"
            + " count(*) FILTER (WHERE status = 'CANCELLED'), sum(progress)"
            + " FROM job_tasks WHERE job_id = ANY (?) GROUP BY job_id",
        ps -> ps.setArray(1, ps.getConnection().createArrayOf("uuid", ids.toArray())),
        rs -> {
          out.put(
              rs.getObject(1, UUID.class),
              new TaskCounts(
                  rs.getInt(2),
                  rs.getInt(3),
                  rs.getInt(4),
                  rs.getInt(5),
                  rs.getInt(6),
                  rs.getInt(7),
                  rs.getLong(8)));
        });
    return out;
  }

  /**
   * A task's lease ended without success. {@link AttemptEnd#decide} says what becomes of it, given
   * the job's status: requeued (alone; a release does not count the attempt), FAILED (and with it
   * the job, with the task's reason) or CANCELLED. Call with the job row locked, then the task's.
   *
   * @param jobStatus the job's status, RUNNING or CANCELLING
   * @param attempts the task's attempts so far, this one included
   * @return false if the task was not RUNNING (nothing changed)
   */
  public boolean endTask(
      UUID jobId,
      int idx,
      JobStatus jobStatus,
      AttemptEnd.Ending ending,
      int attempts,
      int maxAttempts,
      String reason) {
    AttemptEnd.Outcome o = AttemptEnd.decide(jobStatus, ending, attempts, maxAttempts, reason);
    JobStatus to = o.to(); // QUEUED, FAILED or CANCELLED: the task's next status
    String worker = leave(jobId, idx, to, o.reason(), o.attemptCounts());
    if (worker == null) {
      return false;
    }
    recordEvent(jobId, idx, JobStatus.RUNNING, to, o.reason(), worker, o.level());
    if (to == JobStatus.FAILED) {
      transitions.apply(
          jobId,
          jobStatus,
          JobStatus.FAILED,
          describe(jobId, idx) + ": " + o.reason(),
          o.retryable());
    } else if (to == JobStatus.QUEUED) {
      transitions.notifyQueue(jobId);
    }
    settle(jobId);
    return true;
  }

  /**
   * A task's lease completed: the task SUCCEEDED (the seal task's final checkpoint becomes the
   * job's output), and the job with it once every task has. Call with the job row locked.
   *
   * @param progress the sequences the task did, or null to keep the last reported
   */
  public void completeTask(UUID jobId, int idx, Long progress) {
    jdbc.update(
        "UPDATE job_tasks SET progress = COALESCE(?, progress) WHERE job_id = ? AND idx = ?",
        progress,
        jobId,
        idx);
    String worker = leave(jobId, idx, JobStatus.SUCCEEDED, null, true);
    if (worker == null) {
      return;
    }
    recordEvent(jobId, idx, JobStatus.RUNNING, JobStatus.SUCCEEDED, "completed", worker);
    String kind =
        jdbc.queryForObject(
            "SELECT kind FROM job_tasks WHERE job_id = ? AND idx = ?", String.class, jobId, idx);
    if (SEAL.equals(kind)) {
      jdbc.update(
          "UPDATE jobs SET output_uri = (SELECT uri FROM checkpoints WHERE job_id = ?"
              + " AND deleted_at IS NULL ORDER BY is_final DESC, step DESC, id DESC LIMIT 1)"
              + " WHERE id = ?",
          jobId,
          jobId);
    } else {
      transitions.notifyQueue(jobId); // the seal may have become claimable
    }
    settle(jobId);
  }

  /**
   * The job's status from its tasks, after a task changed or the job was cancelled: SUCCEEDED once
   * every task has; CANCELLING cancels the queued tasks and becomes CANCELLED once none runs. Call
   * with the job row locked.
   */
  public void settle(UUID jobId) {
    List<String> row =
        jdbc.queryForList("SELECT status FROM jobs WHERE id = ?", String.class, jobId);
    if (row.isEmpty()) {
      return;
    }
    JobStatus job = JobStatus.valueOf(row.get(0));
    if (!job.isLeased()) {
      return;
    }
    TaskCounts c = counts(List.of(jobId)).get(jobId);
    if (c == null) {
      return;
    }
    if (c.succeeded() == c.total()) {
      transitions.apply(jobId, job, JobStatus.SUCCEEDED, "every task succeeded", null);
    } else if (job == JobStatus.CANCELLING && c.running() == 0) {
      transitions.apply(jobId, job, JobStatus.CANCELLED, "no task runs any more", null);
    } else if (job == JobStatus.CANCELLING && c.queued() > 0) {
      jdbc.update(
          "UPDATE job_tasks SET status = 'CANCELLED', updated_at = now()"
              + " WHERE job_id = ? AND status = 'QUEUED'",
          jobId);
    }
  }

  /**
   * Ends a RUNNING task's lease as {@code to}. Returns the worker that held it, or null if the task
   * was not RUNNING.
   */
  private String leave(UUID jobId, int idx, JobStatus to, String error, boolean attemptCounts) {
    List<String> worker =
        jdbc.queryForList(
            "UPDATE job_tasks SET status = ?, lease_id = NULL, lease_expires_at = NULL,"
                + " last_error = COALESCE(?, last_error), updated_at = now(),"
                + " attempts = CASE WHEN ? THEN attempts ELSE greatest(attempts - 1, 0) END"
                + " WHERE job_id = ? AND idx = ? AND status = 'RUNNING' RETURNING worker_id",
            String.class,
            to.name(),
            to == JobStatus.SUCCEEDED ? null : error,
            attemptCounts,
            jobId,
            idx);
    if (worker.isEmpty()) {
      return null;
    }
    String w = worker.get(0) == null ? "" : worker.get(0);
    jdbc.update(
        "UPDATE workers SET current_job_id = NULL WHERE id = ? AND current_job_id = ?", w, jobId);
    return w;
  }

  /** {@code task 3 (shard 3 of 8)} or {@code task 8 (the seal of 8 shards)}. */
  String describe(UUID jobId, int idx) {
    Map<String, Object> r =
        jdbc.queryForMap(
            "SELECT kind, (SELECT count(*) FROM job_tasks s WHERE s.job_id = t.job_id"
                + " AND s.kind = 'shard') AS shards FROM job_tasks t WHERE job_id = ? AND idx = ?",
            jobId,
            idx);
    long shards = ((Number) r.get("shards")).longValue();
    return SEAL.equals(r.get("kind"))
        ? "task " + idx + " (the seal of " + shards + " shards)"
        : "task " + idx + " (shard " + idx + " of " + shards + ")";
  }

  /**
   * Writes a {@code task} event: the task's index, kind, the transition, the worker and why. The
   * event's attempt is the task's.
   */
  public void recordEvent(
      UUID jobId, int idx, JobStatus from, JobStatus to, String reason, String worker) {
    recordEvent(jobId, idx, from, to, reason, worker, to == JobStatus.FAILED ? "error" : "info");
  }

  /**
   * The same at {@code level} (a task's retry is {@code warn}: {@link AttemptEnd.Outcome#level}).
   */
  private void recordEvent(
      UUID jobId,
      int idx,
      JobStatus from,
      JobStatus to,
      String reason,
      String worker,
      String level) {
    Map<String, Object> data = new LinkedHashMap<>();
    data.put("task", idx);
    data.put("from", from.name());
    data.put("to", to.name());
    if (worker != null) {
      data.put("worker", worker);
    }
    if (reason != null) {
      data.put("reason", reason);
    }
    String message =
        describe(jobId, idx)
            + " "
            + from
            + " -> "
            + to
            + (worker == null || worker.isEmpty() ? "" : " (worker " + worker + ")")
            + (reason == null ? "" : ": " + reason);
    jdbc.update(
        "INSERT INTO job_events (job_id, attempt, kind, level, message, data)"
            + " SELECT job_id, attempts, 'task', ?, ?, ?::jsonb FROM job_tasks"
            + " WHERE job_id = ? AND idx = ?",
        level,
        message,
        mapper.writeValueAsString(data),
        jobId,
        idx);
  }
}
