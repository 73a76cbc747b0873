package dev.distill.service.worker;

import dev.distill.service.job.AttemptEnd;
import dev.distill.service.job.JobStatus;
import dev.distill.service.job.JobTasks;
import dev.distill.service.job.JobTransitions;
import dev.distill.service.metrics.QueueMetrics;
import java.util.List;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.scheduling.annotation.Scheduled;
import org.springframework.stereotype.Component;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * Ends the attempts whose lease expired by the database clock, as {@link AttemptEnd} decides:
 * RUNNING becomes QUEUED (the next claim raises the attempt count and resumes from the last
 * checkpoint) or FAILED when no attempts are left; CANCELLING becomes CANCELLED. An expired task
 * lease ends that task alone ({@link JobTasks#endTask}): it is requeued while it has attempts left,
 * its sibling tasks keep running.
 */
@Component
public class Reaper {

  private static final Logger log = LoggerFactory.getLogger(Reaper.class);
  private final JdbcTemplate jdbc;
  private final JobTransitions transitions;
  private final JobTasks tasks;
  private final QueueMetrics metrics;

  private final TransactionTemplate tx;

  Reaper(
      JdbcTemplate jdbc,
      JobTransitions transitions,
      JobTasks tasks,
      QueueMetrics metrics,
      TransactionTemplate tx) {
    this.jdbc = jdbc;
    this.tasks = tasks;
    this.tx = tx;
    this.transitions = transitions;
    this.metrics = metrics;
  }

  private record Expired(
      UUID id, JobStatus status, int attempts, int maxAttempts, String workerId) {}

  @Scheduled(
      fixedDelayString = "${distill.reaper-interval}",
      initialDelayString = "${distill.reaper-interval}")
  public void scheduled() {
    try {
      reap();
    } catch (RuntimeException e) {
      log.warn("reaper pass failed: {}", e.getMessage());
    }
  }

  /** One pass in one transaction; returns how many leases it ended. */
  public int reap() {
    Integer n = tx.execute(s -> reapInTransaction());
    return n == null ? 0 : n;
  }

  private int reapInTransaction() {
    List<Expired> expired =
        jdbc.query(
            "SELECT id, status, attempts, max_attempts, worker_id FROM jobs"
                + " WHERE status IN ('RUNNING', 'CANCELLING') AND lease_expires_at < now()"
                + " ORDER BY lease_expires_at LIMIT 500 FOR UPDATE SKIP LOCKED",
            (rs, i) ->
                new Expired(
                    rs.getObject(1, UUID.class),
                    JobStatus.valueOf(rs.getString(2)),
                    rs.getInt(3),
                    rs.getInt(4),
                    rs.getString(5)));
    for (Expired e : expired) {
      transitions.endAttempt(
          e.id(),
          e.status(),
          AttemptEnd.Ending.LEASE_EXPIRED,
          e.attempts(),
          e.maxAttempts(),
          "lease of worker " + e.workerId() + " expired on attempt " + e.attempts());
      metrics.leaseExpired();
    }
    return expired.size() + reapTasks();
  }

  private record ExpiredTask(UUID jobId, int idx) {}

  /** Expired task leases: each job row is locked before its task's, as everywhere else. */
  private int reapTasks() {
    List<ExpiredTask> candidates =
        jdbc.query(
            "SELECT job_id, idx FROM job_tasks WHERE status = 'RUNNING' AND lease_expires_at < now()"
                + " ORDER BY lease_expires_at LIMIT 500",
            (rs, i) -> new ExpiredTask(rs.getObject(1, UUID.class), rs.getInt(2)));
    int n = 0;
    for (ExpiredTask c : candidates) {
      List<String> job =
          jdbc.queryForList(
              "SELECT status FROM jobs WHERE id = ? FOR UPDATE SKIP LOCKED",
              String.class,
              c.jobId());
      if (job.isEmpty()) {
        continue; // a claim or a write holds the job: the next pass
      }
      List<Object[]> task =
          jdbc.query(
              "SELECT t.attempts, j.max_attempts, t.worker_id FROM job_tasks t"
                  + " JOIN jobs j ON j.id = t.job_id WHERE t.job_id = ? AND t.idx = ?"
                  + " AND t.status = 'RUNNING' AND t.lease_expires_at < now() FOR UPDATE OF t",
              (rs, i) -> new Object[] {rs.getInt(1), rs.getInt(2), rs.getString(3)},
              c.jobId(),
              c.idx());
      JobStatus status = JobStatus.valueOf(job.get(0));
      if (task.isEmpty() || !status.isLeased()) {
        continue;
      }
      int attempts = (Integer) task.get(0)[0];
      tasks.endTask(
          c.jobId(),
          c.idx(),
          status,
          AttemptEnd.Ending.LEASE_EXPIRED,
          attempts,
          (Integer) task.get(0)[1],
          "lease of worker " + task.get(0)[2] + " expired on attempt " + attempts);
      metrics.leaseExpired();
      n++;
    }
    return n;
  }
}
