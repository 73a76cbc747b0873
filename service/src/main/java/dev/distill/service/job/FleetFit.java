package dev.distill.service.job;

import dev.distill.service.config.DistillProperties;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.scheduling.annotation.Scheduled;
import org.springframework.stereotype.Component;
import org.springframework.transaction.support.TransactionTemplate;
import tools.jackson.databind.ObjectMapper;

/**
 * Whether the live workers can fit the queued jobs that ask for memory ({@code req_min_memory_mb}).
 * A job is <em>unfittable</em> when at least one live worker of its project, device and labels
 * exists and none has that much memory; with no such worker at all nothing is known and nothing is
 * said. "Live" is what {@code GET /v1/workers} calls active: a heartbeat or claim within two lease
 * TTLs.
 *
 * <p>Two views of it:
 *
 * <ul>
 *   <li>{@link #check}: the state of every such job is kept in {@code job_fit} (V8), and each
 *       change is one event: {@code no_worker_fits} (warn) when a job becomes unfittable, {@code
 *       worker_fits} (info) when it stops being so. It runs at submission (for the new job) and
 *       every {@code distill.reaper-interval} (for all, as workers register, change, heartbeat or
 *       go quiet). The change and its event are one statement's upsert guarded by the old value, so
 *       a second replica, a concurrent pass or a restarted service never repeats an event.
 *   <li>{@link #waitingReasons}: the same judgement made now, for {@code waiting_reason} in {@code
 *       GET /v1/jobs/{id}}.
 * </ul>
 */
@Component
public class FleetFit {

  private static final Logger log = LoggerFactory.getLogger(FleetFit.class);

  /** What {@code waiting_reason.code} says when no live worker has the job's memory. */
  public static final String NO_WORKER_FITS = "no_worker_fits";

  /**
   * Queued jobs with a memory requirement and the live workers that could claim them but for
   * memory: how many, and the largest. Jobs without such a worker are left out (nothing known).
   * Parameters: the live window in seconds, a project or null, a job id or null.
   */
  private static final String JUDGED =
      """
      SELECT j.id, j.attempts, j.req_min_memory_mb AS need,
             count(*) AS workers, max(w.memory_mb) AS largest
      FROM jobs j
      JOIN workers w ON w.project = j.project
           AND w.last_heartbeat_at > now() - make_interval(secs => ?)
           AND (j.req_device IS NULL OR w.device = j.req_device)
           AND w.labels::jsonb @> j.req_labels
      WHERE j.status = 'QUEUED' AND j.req_min_memory_mb IS NOT NULL
        AND (?::text IS NULL OR j.project = ?::text)
        AND (?::uuid IS NULL OR j.id = ?::uuid)
      GROUP BY j.id
      """;

  /**
   * The transitions of {@link #JUDGED}: a job that does not fit and was not unfittable becomes so
   * (inserted, or updated from false); one that fits and was unfittable stops being so. Only the
   * rows that changed come back, with {@code unfit} saying which way.
   */
  private static final String TRANSITIONS =
      "WITH judged AS ("
          + JUDGED
          + """
          ), went_unfit AS (
            INSERT INTO job_fit (job_id, unfittable, largest_worker_memory_mb)
            SELECT id, true, largest FROM judged WHERE largest < need
            ON CONFLICT (job_id) DO UPDATE SET unfittable = true,
              largest_worker_memory_mb = excluded.largest_worker_memory_mb, changed_at = now()
            WHERE NOT job_fit.unfittable
            RETURNING job_id
          ), went_fit AS (
            UPDATE job_fit f SET unfittable = false, largest_worker_memory_mb = judged.largest,
              changed_at = now()
            FROM judged WHERE f.job_id = judged.id AND judged.largest >= judged.need
              AND f.unfittable
            RETURNING f.job_id
          )
          SELECT judged.id, judged.attempts, judged.need, judged.workers, judged.largest,
                 went_unfit.job_id IS NOT NULL AS unfit
          FROM judged
          LEFT JOIN went_unfit ON went_unfit.job_id = judged.id
          LEFT JOIN went_fit ON went_fit.job_id = judged.id
          WHERE went_unfit.job_id IS NOT NULL OR went_fit.job_id IS NOT NULL
          ORDER BY judged.id
          """;

  /**
   * Why a queued job waits, as {@code GET /v1/jobs/{id}} shows it ({@code waiting_reason}).
   *
   * @param code {@value #NO_WORKER_FITS}
   * @param message for people
   * @param minMemoryMb what the job needs
   * @param largestWorkerMemoryMb the largest live worker that could otherwise claim it
   * @param liveWorkers how many such workers are live
   */
  public record WaitingReason(
      String code,
      String message,
      long minMemoryMb,
      long largestWorkerMemoryMb,
      long liveWorkers) {}

  private record Change(
      UUID id, int attempt, long need, long workers, long largest, boolean unfit) {}

  private final JdbcTemplate jdbc;
  private final TransactionTemplate tx;
  private final ObjectMapper mapper;
  private final DistillProperties props;

  FleetFit(
      JdbcTemplate jdbc, TransactionTemplate tx, ObjectMapper mapper, DistillProperties props) {
    this.jdbc = jdbc;
    this.tx = tx;
    this.mapper = mapper;
    this.props = props;
  }

  @Scheduled(
      fixedDelayString = "${distill.reaper-interval}",
      initialDelayString = "${distill.reaper-interval}")
  void scheduled() {
    try {
      check();
    } catch (RuntimeException e) {
      log.warn("fleet fit pass failed: {}", e.getMessage());
    }
  }

  /** One pass over every queued job of every project; returns how many events it wrote. */
  public int check() {
    Integer n = tx.execute(s -> record(null, null));
    return n == null ? 0 : n;
  }

  /** The pass for one new job, inside the caller's transaction (submission). */
  int checkJob(String project, UUID id) {
    return record(project, id);
  }

  private int record(String project, UUID id) {
    List<Change> changes =
        jdbc.query(
            TRANSITIONS,
            (rs, i) ->
                new Change(
                    rs.getObject(1, UUID.class),
                    rs.getInt(2),
                    rs.getLong(3),
                    rs.getLong(4),
                    rs.getLong(5),
                    rs.getBoolean(6)),
            liveWindowSeconds(),
            project,
            project,
            id,
            id);
    for (Change c : changes) {
      Map<String, Object> data = new LinkedHashMap<>();
      data.put("min_memory_mb", c.need());
      data.put("largest_worker_memory_mb", c.largest());
      data.put("workers", c.workers());
      jdbc.update(
          "INSERT INTO job_events (job_id, attempt, kind, level, message, data)"
              + " VALUES (?, ?, ?, ?, ?, ?::jsonb)",
          c.id(),
          c.attempt(),
          c.unfit() ? NO_WORKER_FITS : "worker_fits",
          c.unfit() ? "warn" : "info",
          c.unfit()
              ? noneFits(c.need(), c.largest(), c.workers())
              : String.format(
                  "a live worker now has the %,d MiB it needs: largest is %,d MiB (of %d %s)",
                  c.need(), c.largest(), c.workers(), c.workers() == 1 ? "worker" : "workers"),
          mapper.writeValueAsString(data));
    }
    return changes.size();
  }

  private static String noneFits(long need, long largest, long workers) {
    return String.format(
        "no registered worker has %,d MiB; largest is %,d MiB (of %d %s)",
        need, largest, workers, workers == 1 ? "worker" : "workers");
  }

  /** Why each of these jobs waits now, for the queued ones no live worker can fit. */
  Map<UUID, WaitingReason> waitingReasons(List<UUID> ids) {
    Map<UUID, WaitingReason> out = new java.util.HashMap<>();
    if (ids.isEmpty()) {
      return out;
    }
    jdbc.query(
        "SELECT * FROM ("
            + JUDGED.replace("(?::uuid IS NULL OR j.id = ?::uuid)", "j.id = ANY (?)")
            + ") judged WHERE largest < need",
        ps -> {
          ps.setDouble(1, liveWindowSeconds());
          ps.setNull(2, java.sql.Types.VARCHAR);
          ps.setNull(3, java.sql.Types.VARCHAR);
          ps.setArray(4, ps.getConnection().createArrayOf("uuid", ids.toArray()));
        },
        rs -> {
          long need = rs.getLong("need");
          long largest = rs.getLong("largest");
          long workers = rs.getLong("workers");
          out.put(
              rs.getObject("id", UUID.class),
              new WaitingReason(
                  NO_WORKER_FITS, noneFits(need, largest, workers), need, largest, workers));
        });
    return out;
  }

  /** The reason of one job, or empty. */
  Optional<WaitingReason> waitingReason(UUID id) {
    return Optional.ofNullable(waitingReasons(List.of(id)).get(id));
  }

  private double liveWindowSeconds() {
    return (double) props.leaseTtl().multipliedBy(2).toSeconds();
  }
}
