package dev.distill.service.job;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;
import org.springframework.transaction.support.TransactionSynchronization;
import org.springframework.transaction.support.TransactionSynchronizationManager;
import tools.jackson.databind.ObjectMapper;

/**
 * Applies status transitions in SQL. Each one is checked against {@link JobStatus}'s table, is
 * conditional on the row still being in the expected status, and writes a {@code status} event row.
 * Call inside a transaction. Attempt ends go through {@link #endAttempt} ({@link AttemptEnd}'s
 * policy). The only status write elsewhere is the claim's QUEUED to RUNNING in {@code
 * worker/ClaimService}, one statement that picks and leases the job.
 *
 * <p>Each applied transition counts in {@code distill_job_transitions_total{from, to}} once its
 * transaction commits (every legal pair is exported from the start, at 0): requeues are {@code
 * from="running", to="queued"}, failures {@code to="failed"}. The claim's QUEUED to RUNNING is
 * counted by {@code distill_claims_total} instead.
 */
@Component
public class JobTransitions {

  /** The PostgreSQL channel that wakes waiting claims; the payload is the project. */
  public static final String CHANNEL = "distill_jobs";

  private final JdbcTemplate jdbc;
  private final ObjectMapper mapper;

  private final Map<JobStatus, Map<JobStatus, Counter>> counters = new EnumMap<>(JobStatus.class);

  JobTransitions(JdbcTemplate jdbc, ObjectMapper mapper, MeterRegistry registry) {
    this.jdbc = jdbc;
    this.mapper = mapper;
    for (JobStatus from : JobStatus.values()) {
      Map<JobStatus, Counter> byTo = new EnumMap<>(JobStatus.class);
      for (JobStatus to : JobStatus.values()) {
        if (from.canBecome(to)) {
          byTo.put(
              to,
              Counter.builder("distill.job.transitions")
                  .description("Job status transitions applied (after commit)")
                  .tag("from", from.name().toLowerCase(Locale.ROOT))
                  .tag("to", to.name().toLowerCase(Locale.ROOT))
                  .register(registry));
        }
      }
      counters.put(from, byTo);
    }
  }

  /** Counts the transition when the surrounding transaction commits (at once without one). */
  private void count(JobStatus from, JobStatus to) {
    Counter c = counters.get(from).get(to);
    if (TransactionSynchronizationManager.isSynchronizationActive()) {
      TransactionSynchronizationManager.registerSynchronization(
          new TransactionSynchronization() {
            @Override
            public void afterCommit() {
              c.increment();
            }
          });
    } else {
      c.increment();
    }
  }

  /**
   * Moves job {@code id} from {@code from} to {@code to}.
   *
   * @param reason why (stored as the failure reason when {@code to} is FAILED), may be null
   * @param retryable for FAILED: whether a retry could help
   * @return false if the job was not in {@code from} (nothing changed)
   */
  public boolean apply(UUID id, JobStatus from, JobStatus to, String reason, Boolean retryable) {
    return apply(id, from, to, reason, retryable, defaultLevel(to));
  }

  /** The same, its status event at {@code level}. */
  private boolean apply(
      UUID id, JobStatus from, JobStatus to, String reason, Boolean retryable, String level) {
    JobStatus.check(from, to);
    boolean leaving = from.isLeased() && !to.isLeased();
    StringBuilder sql = new StringBuilder("UPDATE jobs SET status = ?, updated_at = now()");
    if (to == JobStatus.QUEUED) {
      sql.append(", queued_at = now(), worker_id = NULL");
    }
    if (to.isTerminal()) {
      sql.append(", finished_at = now()");
    }
    if (to == JobStatus.FAILED) {
      sql.append(", failure_reason = ?, retryable = ?");
    }
    if (leaving) {
      sql.append(", lease_id = NULL, lease_expires_at = NULL");
    }
    sql.append(" WHERE id = ? AND status = ?");
    int n =
        to == JobStatus.FAILED
            ? jdbc.update(
                sql.toString(), to.name(), reason, retryable != null && retryable, id, from.name())
            : jdbc.update(sql.toString(), to.name(), id, from.name());
    if (n == 0) {
      return false;
    }
    if (to.isTerminal()) {
      // a job that ended ends its tasks (JobTasks): their leases are refused from now on.
      // Before the workers rows: a task's heartbeat locks its task, then its worker
      jdbc.update(
          "UPDATE job_tasks SET status = 'CANCELLED', lease_id = NULL, lease_expires_at = NULL,"
              + " updated_at = now() WHERE job_id = ? AND status IN ('QUEUED', 'RUNNING')",
          id);
    }
    if (leaving) {
      jdbc.update("UPDATE workers SET current_job_id = NULL WHERE current_job_id = ?", id);
    }
    recordStatusEvent(id, from, to, reason, Map.of(), level);
    count(from, to);
    if (to == JobStatus.QUEUED || to == JobStatus.SUCCEEDED) {
      notifyQueue(id);
    }
    if (to == JobStatus.FAILED || to == JobStatus.CANCELLED) {
      failDependents(id, to);
    }
    return true;
  }

  /**
   * Ends the attempt of a leased job as {@link AttemptEnd#decide} says: the one place where the
   * worker's fail and release and the reaper's expired leases become a status.
   *
   * @return false if the job was not in {@code status} (nothing changed)
   */
  public boolean endAttempt(
      UUID id,
      JobStatus status,
      AttemptEnd.Ending ending,
      int attempts,
      int maxAttempts,
      String reason) {
    AttemptEnd.Outcome o = AttemptEnd.decide(status, ending, attempts, maxAttempts, reason);
    if (!o.attemptCounts()) {
      return release(id, o.reason());
    }
    return apply(id, status, o.to(), o.reason(), o.retryable(), o.level());
  }

  /**
   * RUNNING -> QUEUED because the worker released the job (it shut down): the attempt it was on
   * does not count, so the next claim runs the same attempt number again. The event keeps the
   * released attempt's number.
   *
   * @return false if the job was not RUNNING (nothing changed)
   */
  private boolean release(UUID id, String reason) {
    if (!apply(id, JobStatus.RUNNING, JobStatus.QUEUED, reason, null, "info")) {
      return false;
    }
    jdbc.update("UPDATE jobs SET attempts = attempts - 1 WHERE id = ? AND attempts > 0", id);
    return true;
  }

  /** Writes the {@code status} event of a transition ({@code from} null for creation). */
  public void recordStatusEvent(UUID id, JobStatus from, JobStatus to, String reason) {
    recordStatusEvent(id, from, to, reason, Map.of());
  }

  /**
   * The same with more entries in the event's data (the creation's memory plan).
   *
   * @param extra entries added after from, to and reason
   */
  public void recordStatusEvent(
      UUID id, JobStatus from, JobStatus to, String reason, Map<String, Object> extra) {
    recordStatusEvent(id, from, to, reason, extra, defaultLevel(to));
  }

  /**
   * A transition's event level unless the attempt-end policy says otherwise ({@link
   * AttemptEnd.Outcome#level}).
   */
  private static String defaultLevel(JobStatus to) {
    return to == JobStatus.FAILED ? "error" : "info";
  }

  private void recordStatusEvent(
      UUID id,
      JobStatus from,
      JobStatus to,
      String reason,
      Map<String, Object> extra,
      String level) {
    Map<String, Object> data = new LinkedHashMap<>();
    data.put("from", from == null ? null : from.name());
    data.put("to", to.name());
    if (reason != null) {
      data.put("reason", reason);
    }
    data.putAll(extra);
    String message =
        (from == null ? "created" : from + " -> " + to) + (reason == null ? "" : ": " + reason);
    jdbc.update(
        "INSERT INTO job_events (job_id, attempt, kind, level, message, data) "
            + "SELECT id, attempts, 'status', ?, ?, ?::jsonb FROM jobs WHERE id = ?",
        level,
        message,
        mapper.writeValueAsString(data),
        id);
  }

  /** Wakes waiting claims of the job's project when this transaction commits. */
  public void notifyQueue(UUID id) {
    jdbc.queryForList("SELECT pg_notify('" + CHANNEL + "', project) FROM jobs WHERE id = ?", id);
  }

  /** Queued jobs that wait for {@code id}'s output can never run: they fail, naming it. */
  private void failDependents(UUID id, JobStatus ended) {
    List<UUID> dependents =
        jdbc.queryForList(
            "SELECT j.id FROM job_dependencies d JOIN jobs j ON j.id = d.job_id "
                + "WHERE d.depends_on = ? AND j.status = 'QUEUED' ORDER BY j.id FOR UPDATE OF j",
            UUID.class,
            id);
    for (UUID d : dependents) {
      apply(
          d, JobStatus.QUEUED, JobStatus.FAILED, "dependency job " + id + " ended " + ended, false);
    }
  }
}
