package dev.distill.service.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.scheduling.annotation.Scheduled;
import org.springframework.stereotype.Component;

/**
 * The queue's meters. Prometheus names: {@code distill_jobs{status}}, {@code
 * distill_claims_total{outcome}}, {@code distill_claim_latency_seconds}, {@code
 * distill_queue_wait_seconds}, {@code distill_lease_expirations_total}, {@code
 * distill_stale_epoch_rejections_total}, {@code distill_active_workers}, {@code
 * distill_oldest_queued_job_age_seconds}.
 */
@Component
public class QueueMetrics {

  private static final List<String> STATUSES =
      List.of("QUEUED", "RUNNING", "CANCELLING", "SUCCEEDED", "FAILED", "CANCELLED");

  private final JdbcTemplate jdbc;
  private final Duration activeWindow;
  private final Counter claimed;
  private final Counter empty;
  private final Timer claimLatency;
  private final Timer queueWait;
  private final Counter leaseExpirations;
  private final Counter staleRejections;
  private final Map<String, AtomicLong> byStatus = new ConcurrentHashMap<>();
  private final AtomicLong activeWorkers = new AtomicLong();
  private final AtomicReference<Double> oldestQueuedAge = new AtomicReference<>(0.0);

  QueueMetrics(
      MeterRegistry registry,
      JdbcTemplate jdbc,
      dev.distill.service.config.DistillProperties props) {
    this.jdbc = jdbc;
    this.activeWindow = props.leaseTtl().multipliedBy(2);
    this.claimed =
        Counter.builder("distill.claims")
            .description("Claim requests by outcome")
            .tag("outcome", "claimed")
            .register(registry);
    this.empty =
        Counter.builder("distill.claims")
            .description("Claim requests by outcome")
            .tag("outcome", "empty")
            .register(registry);
    this.claimLatency =
        Timer.builder("distill.claim.latency")
            .description("Time of one claim transaction")
            .publishPercentileHistogram()
            .register(registry);
    this.queueWait =
        Timer.builder("distill.queue.wait")
            .description("Time a job waited in QUEUED before it was claimed")
            .publishPercentileHistogram()
            .register(registry);
    this.leaseExpirations =
        Counter.builder("distill.lease.expirations")
            .description("Leases that expired and were reaped")
            .register(registry);
    this.staleRejections =
        Counter.builder("distill.stale.epoch.rejections")
            .description("Worker writes rejected with 409 because their lease was no longer held")
            .register(registry);
    for (String s : STATUSES) {
      AtomicLong v = new AtomicLong();
      byStatus.put(s, v);
      Gauge.builder("distill.jobs", v, AtomicLong::get)
          .description("Jobs by status")
          .tag("status", s.toLowerCase(java.util.Locale.ROOT))
          .register(registry);
    }
    Gauge.builder("distill.active.workers", activeWorkers, AtomicLong::get)
        .description("Workers seen within two lease TTLs")
        .register(registry);
    Gauge.builder("distill.oldest.queued.job.age", oldestQueuedAge, AtomicReference::get)
        .description("Age of the oldest queued job")
        .baseUnit("seconds")
        .register(registry);
  }

  /** One claim transaction ran (a waiting claim runs several). */
  public void claimAttempt(Duration latency) {
    claimLatency.record(latency);
  }

  /** A claim request got a job that had waited this long in QUEUED. */
  public void claimed(double queueWaitSeconds) {
    claimed.increment();
    queueWait.record(Duration.ofNanos((long) (queueWaitSeconds * 1e9)));
  }

  /** A claim request ended with 204. */
  public void emptyClaim() {
    empty.increment();
  }

  public void leaseExpired() {
    leaseExpirations.increment();
  }

  public void staleRejection() {
    staleRejections.increment();
  }

  /** Reads the gauges' values from the database (every few seconds, and on demand in tests). */
  @Scheduled(fixedDelay = 5000, initialDelay = 1000)
  public void refresh() {
    byStatus.values().forEach(v -> v.set(0));
    jdbc.query(
        "SELECT status, count(*) FROM jobs GROUP BY status",
        rs -> {
          AtomicLong v = byStatus.get(rs.getString(1));
          if (v != null) {
            v.set(rs.getLong(2));
          }
        });
    activeWorkers.set(
        jdbc.queryForObject(
            "SELECT count(*) FROM workers WHERE last_heartbeat_at > now() - make_interval(secs => ?)",
            Long.class,
            (double) activeWindow.toSeconds()));
    Double age =
        jdbc.queryForObject(
            "SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(queued_at)), 0)::float8"
                + " FROM jobs WHERE status = 'QUEUED'",
            Double.class);
    oldestQueuedAge.set(age == null ? 0.0 : age);
  }
}
