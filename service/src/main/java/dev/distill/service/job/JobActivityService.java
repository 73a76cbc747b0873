package dev.distill.service.job;

import dev.distill.service.auth.Caller;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;
import tools.jackson.core.type.TypeReference;
import tools.jackson.databind.ObjectMapper;

/** Reads of a job's events, metric series and checkpoints, scoped to the caller's project. */
@Service
public class JobActivityService {

  private static final TypeReference<Map<String, Object>> MAP = new TypeReference<>() {};
  private static final TypeReference<Map<String, Double>> DOUBLES = new TypeReference<>() {};

  private final JdbcTemplate jdbc;
  private final JobService jobs;
  private final CheckpointRepository checkpoints;
  private final ObjectMapper mapper;

  JobActivityService(
      JdbcTemplate jdbc, JobService jobs, CheckpointRepository checkpoints, ObjectMapper mapper) {
    this.jdbc = jdbc;
    this.jobs = jobs;
    this.checkpoints = checkpoints;
    this.mapper = mapper;
  }

  @Transactional(readOnly = true)
  public JobActivity.EventPage events(Caller caller, UUID id, long after, int limit) {
    jobs.find(caller, id);
    return eventsUnchecked(id, after, limit);
  }

  /** Events after the cursor; the caller has checked access. */
  JobActivity.EventPage eventsUnchecked(UUID id, long after, int limit) {
    List<JobActivity.Event> items =
        jdbc.query(
            "SELECT id, ts, attempt, seq, kind, level, message, data::text FROM job_events"
                + " WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?",
            (rs, i) ->
                new JobActivity.Event(
                    rs.getLong(1),
                    rs.getTimestamp(2).toInstant(),
                    rs.getInt(3),
                    (Long) rs.getObject(4),
                    rs.getString(5),
                    rs.getString(6),
                    rs.getString(7),
                    rs.getString(8) == null ? null : mapper.readValue(rs.getString(8), MAP)),
            id,
            after,
            limit);
    return new JobActivity.EventPage(
        items, items.isEmpty() ? after : items.get(items.size() - 1).id());
  }

  @Transactional(readOnly = true)
  public JobActivity.Metrics metrics(
      Caller caller, UUID id, List<String> names, long afterStep, int limit) {
    jobs.find(caller, id);
    StringBuilder sql =
        new StringBuilder(
            "SELECT name, step, value, ts FROM job_metrics WHERE job_id = ? AND step > ?");
    List<Object> args = new ArrayList<>(List.of(id, afterStep));
    if (!names.isEmpty()) {
      sql.append(" AND name IN (").append("?,".repeat(names.size() - 1)).append("?)");
      args.addAll(names);
    }
    sql.append(" ORDER BY name, step LIMIT ?");
    args.add(limit);
    Map<String, List<JobActivity.Point>> series = new LinkedHashMap<>();
    jdbc.query(
        sql.toString(),
        rs -> {
          Timestamp ts = rs.getTimestamp(4);
          series
              .computeIfAbsent(rs.getString(1), k -> new ArrayList<>())
              .add(new JobActivity.Point(rs.getLong(2), rs.getDouble(3), ts.toInstant()));
        },
        args.toArray());
    return new JobActivity.Metrics(series);
  }

  @Transactional(readOnly = true)
  public JobActivity.CheckpointList checkpoints(Caller caller, UUID id) {
    jobs.find(caller, id);
    return new JobActivity.CheckpointList(
        checkpoints.findByJobIdAndDeletedAtIsNullOrderByStepAscIdAsc(id).stream()
            .map(
                c ->
                    new JobActivity.CheckpointView(
                        c.uri,
                        c.step,
                        c.sizeBytes,
                        c.sha256,
                        mapper.readValue(c.metrics, DOUBLES),
                        c.isFinal,
                        c.attempt,
                        c.createdAt,
                        c.bestMetric != null,
                        c.bestMetric == null
                            ? null
                            : new JobActivity.BestBy(
                                c.bestMetric, c.bestMode, c.bestValue, c.bestEvaluation)))
            .toList());
  }

  /** Whether the job is in a terminal status. */
  boolean finished(UUID id) {
    String s = jdbc.queryForObject("SELECT status FROM jobs WHERE id = ?", String.class, id);
    return JobStatus.valueOf(s).isTerminal();
  }
}
