package dev.distill.service.job;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import dev.distill.service.config.DistillProperties;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.transaction.support.TransactionTemplate;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

/**
 * A queued job that no live worker can fit says so when the fleet changes, not only at submission:
 * one {@code no_worker_fits} or {@code worker_fits} event per change, none repeated by a second
 * pass or a service that starts again; {@code GET /v1/jobs/{id}} shows {@code waiting_reason}
 * meanwhile. The passes are {@link FleetFit#check}, which the service runs every reaper interval
 * (an hour in these tests, so they call it).
 */
class FleetFitTest extends ServiceTest {

  /** About 31,000 MiB in fp32 with AdamW (see MemoryRequirementTest). */
  private static final String BIG =
      "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-2b\",\"dataset\":{\"uri\":\"builtin:procedural\"}}";

  @Autowired FleetFit fleetFit;
  @Autowired TransactionTemplate tx;
  @Autowired ObjectMapper mapper;
  @Autowired DistillProperties props;

  private void register(Project p, String id, long memoryMb) {
    var r =
        post(
            "/v1/worker/register",
            p.worker(),
            Map.of(
                "worker_id",
                id,
                "capabilities",
                Map.of("device", "cpu", "memory_mb", memoryMb),
                "wait_seconds",
                0));
    assertThat(r.status()).as(r.body()).isEqualTo(204);
  }

  /** The worker last heard from an hour ago: no longer live. */
  private void goQuiet(Project p, String id) {
    jdbc.update(
        "UPDATE workers SET last_heartbeat_at = now() - interval '1 hour'"
            + " WHERE project = ? AND id = ?",
        p.name(),
        id);
  }

  /** The kinds of the job's fit events, in order. */
  private List<String> fitEvents(Project p, String id) {
    List<String> kinds = new ArrayList<>();
    for (JsonNode e : get("/v1/jobs/" + id + "/events", p.viewer()).json().get("items")) {
      String kind = e.get("kind").asString();
      if (kind.equals("no_worker_fits") || kind.equals("worker_fits")) {
        kinds.add(kind + ":" + e.get("data").get("largest_worker_memory_mb").asLong());
      }
    }
    return kinds;
  }

  private JsonNode waitingReason(Project p, String id) {
    return job(p.viewer(), id).get("waiting_reason");
  }

  @Test
  void aJobSaysOnceWhenTheFleetStopsAndStartsFittingIt() {
    Project p = newProject();
    String id = createJob(p.member(), BIG);
    // no worker at all: nothing known, nothing said
    fleetFit.check();
    assertThat(fitEvents(p, id)).isEmpty();
    assertThat(waitingReason(p, id).isNull()).isTrue();

    // a small worker registers: the job becomes unfittable, once
    register(p, "small", 8000);
    fleetFit.check();
    fleetFit.check();
    assertThat(fitEvents(p, id)).containsExactly("no_worker_fits:8000");
    JsonNode reason = waitingReason(p, id);
    assertThat(reason.get("code").asString()).isEqualTo("no_worker_fits");
    assertThat(reason.get("largest_worker_memory_mb").asLong()).isEqualTo(8000);
    assertThat(reason.get("live_workers").asLong()).isEqualTo(1);
    assertThat(reason.get("min_memory_mb").asLong()).isGreaterThan(8000);
    assertThat(reason.get("message").asString()).startsWith("no registered worker has ");
    // the list shows it too
    JsonNode listed = get("/v1/jobs?status=QUEUED", p.viewer()).json().get("items").get(0);
    assertThat(listed.get("waiting_reason").get("code").asString()).isEqualTo("no_worker_fits");

    // a large one registers: it fits, once
    register(p, "large", 64000);
    fleetFit.check();
    fleetFit.check();
    assertThat(fitEvents(p, id)).containsExactly("no_worker_fits:8000", "worker_fits:64000");
    assertThat(waitingReason(p, id).isNull()).isTrue();

    // the large one goes quiet: unfittable again; a heartbeat of the small one changes nothing
    goQuiet(p, "large");
    register(p, "small", 8000);
    fleetFit.check();
    register(p, "small", 8000);
    fleetFit.check();
    assertThat(fitEvents(p, id))
        .containsExactly("no_worker_fits:8000", "worker_fits:64000", "no_worker_fits:8000");
    assertThat(waitingReason(p, id).get("code").asString()).isEqualTo("no_worker_fits");

    // a service that starts again knows the state from the database: no event repeated
    FleetFit restarted = new FleetFit(jdbc, tx, mapper, props);
    restarted.check();
    assertThat(fitEvents(p, id)).hasSize(3);
  }

  @Test
  void aJobNotQueuedAndAJobThatFitsGetNoFitEvents() {
    Project p = newProject();
    register(p, "small", 8000);
    String fits = createJob(p.member(), minimal("distill", 0));
    String big = createJob(p.member(), BIG);
    assertThat(fitEvents(p, big)).containsExactly("no_worker_fits:8000"); // at submission
    var cancelled = post("/v1/jobs/" + big + "/cancel", p.member(), "{}");
    assertThat(cancelled.status()).as(cancelled.body()).isEqualTo(200);
    register(p, "large", 64000);
    fleetFit.check();
    assertThat(fitEvents(p, big)).containsExactly("no_worker_fits:8000");
    assertThat(fitEvents(p, fits)).isEmpty();
    assertThat(waitingReason(p, big).isNull()).isTrue();
  }

  @Test
  void onlyWorkersOfTheJobsDeviceAndLabelsCount() {
    Project p = newProject();
    // a large worker with other labels does not fit it; a small one with the labels makes it
    // unfittable
    var r =
        post(
            "/v1/worker/register",
            p.worker(),
            Map.of(
                "worker_id",
                "other-pool",
                "capabilities",
                Map.of("device", "cpu", "memory_mb", 64000, "labels", Map.of("pool", "b"))));
    assertThat(r.status()).as(r.body()).isEqualTo(204);
    String id =
        createJob(
            p.member(), BIG.replace("}}", "},\"requirements\":{\"labels\":{\"pool\":\"a\"}}}"));
    fleetFit.check();
    assertThat(fitEvents(p, id)).isEmpty();
    var small =
        post(
            "/v1/worker/register",
            p.worker(),
            Map.of(
                "worker_id",
                "pool-a",
                "capabilities",
                Map.of("device", "cpu", "memory_mb", 16000, "labels", Map.of("pool", "a"))));
    assertThat(small.status()).as(small.body()).isEqualTo(204);
    fleetFit.check();
    assertThat(fitEvents(p, id)).containsExactly("no_worker_fits:16000");
  }
}
