package dev.distill.service.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/**
 * {@code POST .../release}: a worker that shuts down gives the job back; the attempt does not
 * count, the job is claimable again at once, and the release is fenced like every other write.
 */
class ReleaseTest extends ServiceTest {

  /** One attempt allowed: a release that counted would leave none for the next claim. */
  private static final String ONE_ATTEMPT =
      "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"builtin:procedural\"},"
          + "\"max_attempts\":1}";

  private Resp release(Project p, Lease l, long epoch, String reason) {
    return post(l.path("release"), p.worker(), Map.of("epoch", epoch, "reason", reason));
  }

  @Test
  void releaseRequeuesWithoutCountingAnAttempt() {
    Project p = newProject();
    String id = createJob(p.member(), ONE_ATTEMPT);
    Lease first = claim(p.worker(), "w-pool-1");
    assertThat(job(p.viewer(), id).get("attempts").asInt()).isEqualTo(1);
    Map<String, Object> event =
        Map.of("seq", 0, "kind", "claimed", "message", "first run of attempt 1");
    assertThat(
            post(
                    first.path("events"),
                    p.worker(),
                    Map.of("epoch", first.epoch(), "events", List.of(event)))
                .json()
                .get("accepted")
                .asInt())
        .isEqualTo(1);

    Resp r = release(p, first, first.epoch(), "shut down at step 7");
    assertThat(r.status()).as(r.body()).isEqualTo(204);
    JsonNode queued = job(p.viewer(), id);
    assertThat(queued.get("status").asString()).isEqualTo("QUEUED");
    assertThat(queued.get("attempts").asInt()).as("the released attempt is not counted").isZero();
    assertThat(queued.get("worker_id").isNull()).isTrue();

    // claimable again at once, as attempt 1 of 1 again, with a new lease and a higher epoch
    Lease second = claim(p.worker(), "w-pool-2");
    assertThat(second.jobId()).isEqualTo(id);
    assertThat(second.epoch()).isEqualTo(first.epoch() + 1);
    assertThat(second.body().get("job").get("attempt").asInt()).isEqualTo(1);
    assertThat(job(p.viewer(), id).get("attempts").asInt()).isEqualTo(1);
    // the second run's events start at seq 0 again and are stored, not taken for resends
    Map<String, Object> again =
        Map.of("seq", 0, "kind", "claimed", "message", "second run of attempt 1");
    assertThat(
            post(
                    second.path("events"),
                    p.worker(),
                    Map.of("epoch", second.epoch(), "events", List.of(again)))
                .json()
                .get("accepted")
                .asInt())
        .isEqualTo(1);

    List<String> messages =
        jdbc.queryForList(
            "SELECT message FROM job_events WHERE job_id = ?::uuid ORDER BY id", String.class, id);
    assertThat(messages)
        .contains(
            "RUNNING -> QUEUED: released by worker w-pool-1: shut down at step 7",
            "first run of attempt 1",
            "second run of attempt 1");
    assertThat(
            jdbc.queryForObject(
                "SELECT attempt FROM job_events WHERE job_id = ?::uuid AND message LIKE '%released%'",
                Integer.class, id))
        .as("the release event belongs to the attempt that was released")
        .isEqualTo(1);

    // the one allowed attempt is still there: a retryable failure now uses it up
    Resp fail =
        post(
            second.path("fail"),
            p.worker(),
            Map.of("epoch", second.epoch(), "reason", "boom", "retryable", true));
    assertThat(fail.status()).isEqualTo(204);
    assertThat(job(p.viewer(), id).get("status").asString()).isEqualTo("FAILED");
  }

  @Test
  void aStaleLeaseCannotRelease() {
    Project p = newProject();
    String id = createJob(p.member(), ONE_ATTEMPT);
    Lease first = claim(p.worker(), "w-1");
    assertThat(release(p, first, first.epoch(), "shut down").status()).isEqualTo(204);
    Lease second = claim(p.worker(), "w-2");

    Resp stale = release(p, first, first.epoch(), "shut down again");
    assertThat(stale.status()).isEqualTo(409);
    assertThat(stale.header("Content-Type")).startsWith("application/problem+json");
    assertThat(stale.json().get("type").asString()).endsWith("/lease-lost");
    Resp oldEpoch = release(p, second, first.epoch(), "old epoch");
    assertThat(oldEpoch.status()).isEqualTo(409);
    assertThat(oldEpoch.json().get("type").asString()).endsWith("/stale-epoch");

    JsonNode job = job(p.viewer(), id);
    assertThat(job.get("status").asString()).isEqualTo("RUNNING");
    assertThat(job.get("worker_id").asString()).isEqualTo("w-2");
    assertThat(job.get("attempts").asInt()).isEqualTo(1);
  }

  @Test
  void releaseWhileCancellingEndsCancelled() {
    Project p = newProject();
    String id = createJob(p.member(), example("finetune"));
    Lease l = claim(p.worker(), "w");
    post("/v1/jobs/" + id + "/cancel", p.member(), "");
    assertThat(release(p, l, l.epoch(), "shut down").status()).isEqualTo(204);
    assertThat(job(p.viewer(), id).get("status").asString()).isEqualTo("CANCELLED");
  }

  @Test
  void releaseWithoutReasonNamesTheField() {
    Project p = newProject();
    createJob(p.member(), example("finetune"));
    Lease l = claim(p.worker(), "w");
    Resp r = post(l.path("release"), p.worker(), Map.of("epoch", l.epoch()));
    assertThat(r.status()).isEqualTo(422);
    assertThat(r.body()).contains("reason");
  }
}
