package dev.distill.service.worker;

import dev.distill.service.job.AttemptEnd;
import dev.distill.service.job.JobStatus;
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
 * checkpoint) or FAILED when no attempts are left; CANCELLING becomes CANCELLED.
 */
@Component
public class Reaper {

  private static final Logger log = LoggerFactory.getLogger(Reaper.class);
  private final JdbcTemplate jdbc;
  private final JobTransitions transitions;
  private final QueueMetrics metrics;

  private final TransactionTemplate tx;

  Reaper(
      JdbcTemplate jdbc, JobTransitions transitions, QueueMetrics metrics, TransactionTemplate tx) {
    this.jdbc = jdbc;
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
    return expired.size();
  }
}
