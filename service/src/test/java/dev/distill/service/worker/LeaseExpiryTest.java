package dev.distill.service.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import tools.jackson.databind.JsonNode;

/**
 * A lost lease: the reaper requeues the job by the database clock, the next worker resumes with a
 * higher epoch, and the stale worker's writes get 409 and change nothing (but for late metric
 * points, see {@link LatePointsTest}).
 */
class LeaseExpiryTest extends ServiceTest {

  @Autowired Reaper reaper;

  private void expire(String jobId) {
    jdbc.update(
        "UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = ?::uuid", jobId);
  }

  @Test
  void expiredLeaseIsRequeuedAndTheStaleWorkerIsFenced() {
    Project p = newProject();
    String id = createJob(p.member(), example("distill"));
    Lease stale = claim(p.worker(), "slow");
    Map<String, Object> ckpt =
        Map.of(
            "epoch",
            stale.epoch(),
            "uri",
            "file:/ck/step-50",
            "step",
            50,
            "size_bytes",
            1,
            "sha256",
            "0".repeat(64));
    assertThat(post(stale.path("checkpoints"), p.worker(), ckpt).status()).isEqualTo(204);

    assertThat(reaper.reap()).as("a live lease is not reaped").isZero();
    expire(id);
    assertThat(reaper.reap()).isEqualTo(1);
    JsonNode queued = job(p.viewer(), id);
    assertThat(queued.get("status").asString()).isEqualTo("QUEUED");
    assertThat(queued.get("attempts").asInt()).isEqualTo(1);
    assertThat(queued.get("worker_id").isNull()).isTrue();

    Lease fresh = claim(p.worker(), "fast");
    assertThat(fresh.jobId()).isEqualTo(id);
    assertThat(fresh.epoch()).isEqualTo(2);
    assertThat(fresh.body().get("job").get("attempt").asInt()).isEqualTo(2);
    assertThat(fresh.body().get("job").get("resume_from").get("step").asLong()).isEqualTo(50);

    Resp hb = post(stale.path("heartbeat"), p.worker(), Map.of("epoch", stale.epoch()));
    assertThat(hb.status()).isEqualTo(409);
    assertThat(hb.header("Content-Type")).startsWith("application/problem+json");
    Resp metrics =
        post(
            stale.path("metrics"),
            p.worker(),
            Map.of(
                "epoch",
                stale.epoch(),
                "points",
                List.of(Map.of("step", 60, "name", "loss", "value", 9.0))));
    // metric points are the exception: late points of an earlier lease are kept where missing
    assertThat(metrics.status()).isEqualTo(200);
    assertThat(metrics.json().get("lease_lost").asBoolean()).isTrue();
    Resp done = post(stale.path("complete"), p.worker(), Map.of("epoch", stale.epoch()));
    assertThat(done.status()).isEqualTo(409);
    // the stale lease id with the new epoch does not get through either
    assertThat(post(stale.path("complete"), p.worker(), Map.of("epoch", fresh.epoch())).status())
        .isEqualTo(409);
    // and the current lease with the old epoch is a stale epoch
    Resp oldEpoch = post(fresh.path("heartbeat"), p.worker(), Map.of("epoch", stale.epoch()));
    assertThat(oldEpoch.status()).isEqualTo(409);
    assertThat(oldEpoch.json().get("type").asString()).endsWith("/stale-epoch");

    assertThat(
            jdbc.queryForObject(
                "SELECT count(*) FROM job_metrics WHERE job_id = ?::uuid", Integer.class, id))
        .isEqualTo(1);
    JsonNode running = job(p.viewer(), id);
    assertThat(running.get("status").asString()).isEqualTo("RUNNING");
    assertThat(running.get("worker_id").asString()).isEqualTo("fast");
    assertThat(post(fresh.path("complete"), p.worker(), Map.of("epoch", fresh.epoch())).status())
        .isEqualTo(204);

    List<String> transitions =
        jdbc.queryForList(
            "SELECT message FROM job_events WHERE job_id = ?::uuid AND kind = 'status' ORDER BY id",
            String.class,
            id);
    assertThat(transitions).hasSize(5);
    assertThat(transitions.get(2)).startsWith("RUNNING -> QUEUED: lease of worker slow expired");
  }

  @Test
  void anExpiredLeaseIsFencedBeforeTheReaperRuns() {
    Project p = newProject();
    String id = createJob(p.member(), example("finetune"));
    Lease l = claim(p.worker(), "late");
    expire(id);
    // by the database clock the lease is over: a late heartbeat does not revive it
    Resp hb = post(l.path("heartbeat"), p.worker(), Map.of("epoch", l.epoch()));
    assertThat(hb.status()).isEqualTo(409);
    assertThat(hb.json().get("type").asString()).endsWith("/lease-lost");
    assertThat(hb.json().get("detail").asString()).contains("expired");
    assertThat(reaper.reap()).isEqualTo(1);
    assertThat(job(p.viewer(), id).get("status").asString()).isEqualTo("QUEUED");
  }

  @Test
  void lastAttemptsExpiryFailsTheJobWithTheReason() {
    Project p = newProject();
    String id =
        createJob(
            p.member(),
            "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"builtin:procedural\"},\"max_attempts\":1}");
    claim(p.worker(), "w");
    expire(id);
    assertThat(reaper.reap()).isEqualTo(1);
    JsonNode job = job(p.viewer(), id);
    assertThat(job.get("status").asString()).isEqualTo("FAILED");
    assertThat(job.get("failure_reason").asString())
        .contains("expired")
        .contains("last of 1 attempts");
  }

  @Test
  void expiryWhileCancellingEndsCancelled() {
    Project p = newProject();
    String id = createJob(p.member(), example("finetune"));
    claim(p.worker(), "w");
    post("/v1/jobs/" + id + "/cancel", p.member(), "");
    expire(id);
    reaper.scheduled(); // the scheduler's entry point, not the proxied one
    assertThat(job(p.viewer(), id).get("status").asString()).isEqualTo("CANCELLED");
  }
}
