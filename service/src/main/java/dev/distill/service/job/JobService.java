package dev.distill.service.job;

import dev.distill.service.auth.Caller;
import dev.distill.service.web.ApiException;
import dev.distill.service.web.FieldError;
import dev.distill.spec.JobSpec;
import dev.distill.spec.JobType;
import dev.distill.spec.TeacherPassSettings;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.springframework.http.HttpStatus;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;
import tools.jackson.databind.ObjectMapper;

/** Creating, reading, listing and cancelling jobs, always within the caller's project. */
@Service
public class JobService {

  /** A job and whether this request created it (false: an idempotent replay). */
  public record Created(JobResource job, boolean created) {}

  private final JdbcTemplate jdbc;
  private final JobRepository jobs;
  private final JobTransitions transitions;
  private final RefPolicy refPolicy;
  private final ObjectMapper mapper;
  private final FleetFit fleetFit;
  private final JobTasks tasks;

  JobService(
      JdbcTemplate jdbc,
      JobRepository jobs,
      JobTransitions transitions,
      RefPolicy refPolicy,
      ObjectMapper mapper,
      FleetFit fleetFit,
      JobTasks tasks) {
    this.jdbc = jdbc;
    this.tasks = tasks;
    this.jobs = jobs;
    this.transitions = transitions;
    this.refPolicy = refPolicy;
    this.mapper = mapper;
    this.fleetFit = fleetFit;
  }

  @Transactional
  public Created create(Caller caller, JobSpec spec, String idempotencyKey) {
    if (idempotencyKey != null && (idempotencyKey.isBlank() || idempotencyKey.length() > 255)) {
      throw ApiException.badParameter("Idempotency-Key", "must be 1..255 characters");
    }
    List<FieldError> errors = new ArrayList<>(refPolicy.check(spec));
    errors.addAll(refPolicy.missingFiles(spec));
    Map<UUID, JobStatus> dependencies = new LinkedHashMap<>();
    RefPolicy.jobRefs(spec)
        .forEach(
            (field, id) -> {
              Optional<Job> dep = jobs.findByIdAndProject(id, caller.project());
              if (dep.isEmpty()) {
                errors.add(new FieldError(field, "job " + id + " does not exist in this project"));
              } else if (field.equals("teacher_logits")
                  && !JobType.TEACHER_PASS.json().equals(dep.get().type)) {
                errors.add(
                    new FieldError(
                        field,
                        "job " + id + " is a " + dep.get().type + " job, not a teacher_pass job"));
              } else {
                dependencies.put(id, dep.get().status());
              }
            });
    if (!errors.isEmpty()) {
      throw ApiException.invalid(errors);
    }
    String specJson = mapper.writeValueAsString(spec);
    String hash = sha256(specJson);
    MemoryRequirement memory = MemoryRequirement.of(spec, cacheTopK(spec, caller));
    UUID id = UUID.randomUUID();
    int inserted =
        jdbc.update(
            "INSERT INTO jobs (id, project, type, status, spec, priority, max_attempts, req_device,"
                + " req_min_memory_mb, req_labels, idempotency_key, request_hash)"
                + " VALUES (?, ?, ?, 'QUEUED', ?, ?, ?, ?, ?, ?::jsonb, ?, ?)"
                + " ON CONFLICT (project, idempotency_key) DO NOTHING",
            id,
            caller.project(),
            spec.type().json(),
            specJson,
            spec.priority(),
            spec.maxAttempts(),
            spec.requirements().device(),
            memory.minMemoryMb(),
            mapper.writeValueAsString(spec.requirements().labels()),
            idempotencyKey,
            hash);
    if (inserted == 0) {
      Map<String, Object> existing =
          jdbc.queryForMap(
              "SELECT id, request_hash FROM jobs WHERE project = ? AND idempotency_key = ?",
              caller.project(),
              idempotencyKey);
      if (!hash.equals(existing.get("request_hash"))) {
        throw new ApiException(
            HttpStatus.UNPROCESSABLE_CONTENT,
            "idempotency-key-reused",
            "Idempotency key reused",
            "Idempotency-Key '" + idempotencyKey + "' was used with a different body");
      }
      return new Created(get(caller, (UUID) existing.get("id")), false);
    }
    if (JobTasks.runsAsTasks(spec)) {
      tasks.create(id, spec);
    }
    for (UUID dep : dependencies.keySet()) {
      jdbc.update(
          "INSERT INTO job_dependencies (job_id, depends_on) VALUES (?, ?) ON CONFLICT DO NOTHING",
          id,
          dep);
    }
    // the created event carries the memory plan when the service made the requirement
    transitions.recordStatusEvent(
        id,
        null,
        JobStatus.QUEUED,
        null,
        memory.plan() == null ? Map.of() : Map.of("memory_plan", memory.eventData()));
    if (memory.minMemoryMb() != null) {
      fleetFit.checkJob(caller.project(), id); // later changes of the fleet: FleetFit's pass
    }
    Optional<Map.Entry<UUID, JobStatus>> dead =
        dependencies.entrySet().stream()
            .filter(e -> e.getValue() == JobStatus.FAILED || e.getValue() == JobStatus.CANCELLED)
            .findFirst();
    if (dead.isPresent()) {
      transitions.apply(
          id,
          JobStatus.QUEUED,
          JobStatus.FAILED,
          "dependency job " + dead.get().getKey() + " ended " + dead.get().getValue(),
          false);
    } else {
      transitions.notifyQueue(id);
    }
    return new Created(get(caller, id), true);
  }

  /** The {@code top_k} of the teacher_pass job a {@code teacher_logits} job trains from. */
  private int cacheTopK(JobSpec spec, Caller caller) {
    int dflt = TeacherPassSettings.defaults().topK();
    if (spec.teacherLogits() == null) {
      return dflt;
    }
    return RefPolicy.jobRefs(spec).entrySet().stream()
        .filter(e -> e.getKey().equals("teacher_logits"))
        .flatMap(e -> jobs.findByIdAndProject(e.getValue(), caller.project()).stream())
        .map(j -> mapper.readValue(j.spec, JobSpec.class).teacherPass())
        .map(tp -> tp == null ? dflt : tp.topK())
        .findFirst()
        .orElse(dflt);
  }

  @Transactional(readOnly = true)
  public JobResource get(Caller caller, UUID id) {
    Job job = find(caller, id);
    return resource(
        job,
        latestMetrics(List.of(id)).getOrDefault(id, Map.of()),
        fleetFit.waitingReason(id).orElse(null),
        tasks.counts(List.of(id)).get(id));
  }

  /** The job, or 404 if it does not exist in the caller's project. */
  @Transactional(readOnly = true)
  public Job find(Caller caller, UUID id) {
    return jobs.findByIdAndProject(id, caller.project())
        .orElseThrow(() -> ApiException.notFound("job " + id));
  }

  @Transactional(readOnly = true)
  public JobPage list(Caller caller, JobStatus status, JobType type, int limit, UUID after) {
    StringBuilder sql = new StringBuilder("SELECT id FROM jobs j WHERE project = ?");
    List<Object> args = new ArrayList<>(List.of(caller.project()));
    if (status != null) {
      sql.append(" AND status = ?");
      args.add(status.name());
    }
    if (type != null) {
      sql.append(" AND type = ?");
      args.add(type.json());
    }
    if (after != null) {
      find(caller, after);
      sql.append(
          " AND (created_at, id) < (SELECT created_at, id FROM jobs WHERE id = ? AND project = ?)");
      args.add(after);
      args.add(caller.project());
    }
    sql.append(" ORDER BY created_at DESC, id DESC LIMIT ?");
    args.add(limit + 1);
    List<UUID> ids = jdbc.queryForList(sql.toString(), UUID.class, args.toArray());
    boolean hasMore = ids.size() > limit;
    if (hasMore) {
      ids = ids.subList(0, limit);
    }
    Map<UUID, Job> byId = new HashMap<>();
    jobs.findAllById(ids).forEach(j -> byId.put(j.id, j));
    Map<UUID, Map<String, Double>> metrics = latestMetrics(ids);
    Map<UUID, FleetFit.WaitingReason> waiting = fleetFit.waitingReasons(ids);
    Map<UUID, JobTasks.TaskCounts> counts = tasks.counts(ids);
    List<JobResource> items =
        ids.stream()
            .map(byId::get)
            .map(
                j ->
                    resource(
                        j,
                        metrics.getOrDefault(j.id, Map.of()),
                        waiting.get(j.id),
                        counts.get(j.id)))
            .toList();
    return new JobPage(items, hasMore, hasMore ? ids.get(ids.size() - 1) : null);
  }

  /**
   * Cancels: QUEUED becomes CANCELLED, RUNNING becomes CANCELLING (the worker learns it from its
   * next heartbeat); CANCELLING stays. A finished job gets 409. A job of tasks cancels its queued
   * tasks at once and becomes CANCELLED when no task runs any more ({@link JobTasks#settle}).
   */
  @Transactional
  public JobResource cancel(Caller caller, UUID id) {
    // Lock by SQL, not through JPA: an entity loaded now would be stale after the update below.
    List<String> status =
        jdbc.queryForList(
            "SELECT status FROM jobs WHERE id = ? AND project = ? FOR UPDATE",
            String.class,
            id,
            caller.project());
    if (status.isEmpty()) {
      throw ApiException.notFound("job " + id);
    }
    JobStatus s = JobStatus.valueOf(status.get(0));
    switch (s) {
      case QUEUED ->
          transitions.apply(id, s, JobStatus.CANCELLED, "cancelled by " + caller.tokenName(), null);
      case RUNNING -> {
        transitions.apply(
            id, s, JobStatus.CANCELLING, "cancel requested by " + caller.tokenName(), null);
        tasks.settle(id); // a job of tasks: its queued tasks end now, the job once none runs
      }
      case CANCELLING -> {}
      default ->
          throw new ApiException(
              HttpStatus.CONFLICT,
              "job-finished",
              "Job already finished",
              "job " + id + " is " + s + " and cannot be cancelled");
    }
    return get(caller, id);
  }

  JobResource resource(
      Job j,
      Map<String, Double> latest,
      FleetFit.WaitingReason waiting,
      JobTasks.TaskCounts tasks) {
    return JobResource.of(j, mapper.readValue(j.spec, JobSpec.class), latest, waiting, tasks);
  }

  /** The value at the highest step of each series, per job. */
  private Map<UUID, Map<String, Double>> latestMetrics(List<UUID> ids) {
    Map<UUID, Map<String, Double>> out = new HashMap<>();
    if (ids.isEmpty()) {
      return out;
    }
    jdbc.query(
        "SELECT DISTINCT ON (job_id, name) job_id, name, value FROM job_metrics"
            + " WHERE job_id = ANY (?) ORDER BY job_id, name, step DESC",
        ps -> ps.setArray(1, ps.getConnection().createArrayOf("uuid", ids.toArray())),
        rs -> {
          out.computeIfAbsent(rs.getObject(1, UUID.class), k -> new java.util.TreeMap<>())
              .put(rs.getString(2), rs.getDouble(3));
        });
    return out;
  }

  static String sha256(String s) {
    try {
      return java.util.HexFormat.of()
          .formatHex(
              MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
