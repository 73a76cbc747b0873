package dev.distill.service.worker;

import dev.distill.service.auth.Caller;
import dev.distill.service.config.DistillProperties;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RequestAttribute;
import org.springframework.web.bind.annotation.RestController;
import tools.jackson.core.type.TypeReference;
import tools.jackson.databind.ObjectMapper;

/** {@code GET /v1/workers}: the workers of the caller's project. */
@RestController
class WorkersController {

  /**
   * @param active seen within two lease TTLs
   */
  record WorkerView(
      String id,
      String device,
      long memoryMb,
      Map<String, String> labels,
      Instant registeredAt,
      Instant lastHeartbeatAt,
      UUID currentJobId,
      boolean active) {}

  record WorkerList(List<WorkerView> items) {}

  private static final TypeReference<Map<String, String>> LABELS = new TypeReference<>() {};
  private final JdbcTemplate jdbc;
  private final ObjectMapper mapper;
  private final DistillProperties props;

  WorkersController(JdbcTemplate jdbc, ObjectMapper mapper, DistillProperties props) {
    this.jdbc = jdbc;
    this.mapper = mapper;
    this.props = props;
  }

  @GetMapping("/v1/workers")
  WorkerList list(@RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    return new WorkerList(
        jdbc.query(
            "SELECT id, device, memory_mb, labels, registered_at, last_heartbeat_at, current_job_id,"
                + " last_heartbeat_at > now() - make_interval(secs => ?) FROM workers"
                + " WHERE project = ? ORDER BY id",
            (rs, i) ->
                new WorkerView(
                    rs.getString(1),
                    rs.getString(2),
                    rs.getLong(3),
                    mapper.readValue(rs.getString(4), LABELS),
                    rs.getTimestamp(5).toInstant(),
                    rs.getTimestamp(6).toInstant(),
                    rs.getObject(7, UUID.class),
                    rs.getBoolean(8)),
            (double) props.leaseTtl().multipliedBy(2).toSeconds(),
            caller.project()));
  }
}
