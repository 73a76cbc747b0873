package dev.distill.service.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import tools.jackson.databind.JsonNode;

/**
 * Late metric points: a worker whose lease expired still delivers the points it buffered. They are
 * stored in the lease's own job where it has no point yet and never overwrite one; every other
 * write of the old lease stays 409.
 */
class LatePointsTest extends ServiceTest {

  @Autowired Reaper reaper;

  private void expireAndReap(String jobId) {
    jdbc.update(
        "UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = ?::uuid", jobId);
    // other test classes may leave expired leases in the shared database: count only this job
    assertThat(reaper.reap()).isPositive();
    assertThat(
            jdbc.queryForObject("SELECT status FROM jobs WHERE id = ?::uuid", String.class, jobId))
        .isEqualTo("QUEUED");
  }

  private static Map<String, Object> points(long epoch, long... stepValue) {
    List<Map<String, Object>> list = new java.util.ArrayList<>();
    for (int i = 0; i < stepValue.length; i += 2) {
      list.add(Map.of("step", stepValue[i], "name", "loss", "value", (double) stepValue[i + 1]));
    }
    return Map.of("epoch", epoch, "points", list);
  }

  private TreeMap<Long, Double> loss(String jobId) {
    TreeMap<Long, Double> out = new TreeMap<>();
    jdbc.query(
        "SELECT step, value FROM job_metrics WHERE job_id = ?::uuid AND name = 'loss'",
        rs -> {
          out.put(rs.getLong(1), rs.getDouble(2));
        },
        jobId);
    return out;
  }

  @Test
  void pointsOfAnExpiredLeaseOfTheSameJobAreStoredWhereMissing() {
    Project p = newProject();
    String id = createJob(p.member(), example("finetune"));
    Lease old = claim(p.worker(), "slow");
    Resp held = post(old.path("metrics"), p.worker(), points(old.epoch(), 1, 10, 2, 20));
    assertThat(held.json().get("lease_lost").asBoolean()).isFalse();
    expireAndReap(id);
    Lease current = claim(p.worker(), "fast");
    assertThat(current.jobId()).isEqualTo(id);
    // the new attempt resumed before step 3 and has reported it already
    post(current.path("metrics"), p.worker(), points(current.epoch(), 3, 300));

    Resp late = post(old.path("metrics"), p.worker(), points(old.epoch(), 3, 999, 4, 40, 5, 50));
    assertThat(late.status()).as(late.body()).isEqualTo(200);
    assertThat(late.json().get("lease_lost").asBoolean()).isTrue();
    assertThat(late.json().get("accepted").asInt()).as("steps 4 and 5 only").isEqualTo(2);
    // resending late points changes nothing
    assertThat(
            post(old.path("metrics"), p.worker(), points(old.epoch(), 4, 41))
                .json()
                .get("accepted")
                .asInt())
        .isZero();
    assertThat(loss(id))
        .as("the current attempt's point at step 3 is kept")
        .containsExactly(
            Map.entry(1L, 10.0),
            Map.entry(2L, 20.0),
            Map.entry(3L, 300.0),
            Map.entry(4L, 40.0),
            Map.entry(5L, 50.0));
    // the current lease still upserts over a late point
    post(current.path("metrics"), p.worker(), points(current.epoch(), 4, 400));
    assertThat(loss(id).get(4L)).isEqualTo(400.0);

    // everything else from the old lease stays fenced
    assertThat(post(old.path("heartbeat"), p.worker(), Map.of("epoch", old.epoch())).status())
        .isEqualTo(409);
    Map<String, Object> ckpt =
        Map.of(
            "epoch",
            old.epoch(),
            "uri",
            "file:/ck/step-5",
            "step",
            5,
            "size_bytes",
            1,
            "sha256",
            "0".repeat(64));
    assertThat(post(old.path("checkpoints"), p.worker(), ckpt).status()).isEqualTo(409);
    Map<String, Object> event = Map.of("seq", 9, "kind", "log", "message", "late");
    assertThat(
            post(
                    old.path("events"),
                    p.worker(),
                    Map.of("epoch", old.epoch(), "events", List.of(event)))
                .status())
        .isEqualTo(409);
    assertThat(post(old.path("complete"), p.worker(), Map.of("epoch", old.epoch())).status())
        .isEqualTo(409);
    JsonNode job = job(p.viewer(), id);
    assertThat(job.get("status").asString()).isEqualTo("RUNNING");
    assertThat(job.get("worker_id").asString()).isEqualTo("fast");
  }

  @Test
  void latePointsGoOnlyToTheLeasesOwnJobAndNeedItsEpoch() {
    Project p = newProject();
    String a = createJob(p.member(), minimal("finetune", 5));
    String b = createJob(p.member(), minimal("finetune", 0));
    Lease leaseA = claim(p.worker(), "wa");
    Lease leaseB = claim(p.worker(), "wb");
    assertThat(leaseA.jobId()).isEqualTo(a);
    assertThat(leaseB.jobId()).isEqualTo(b);
    expireAndReap(b);
    claim(p.worker(), "wb2"); // job b again, epoch 2

    // b's old lease delivers into b, never into a
    assertThat(post(leaseB.path("metrics"), p.worker(), points(1, 7, 70)).status()).isEqualTo(200);
    assertThat(loss(b)).containsOnlyKeys(7L);
    assertThat(loss(a)).isEmpty();
    // b's old lease with another epoch (a's lease's, or b's current one) is refused
    Resp wrongEpoch = post(leaseB.path("metrics"), p.worker(), points(2, 8, 80));
    assertThat(wrongEpoch.status()).isEqualTo(409);
    assertThat(wrongEpoch.header("Content-Type")).startsWith("application/problem+json");
    // a lease that never existed, and b's old lease seen from another project, are refused
    String never = "/v1/worker/leases/" + UUID.randomUUID() + "/metrics";
    assertThat(post(never, p.worker(), points(1, 9, 90)).status()).isEqualTo(409);
    Project other = newProject();
    assertThat(post(leaseB.path("metrics"), other.worker(), points(1, 9, 90)).status())
        .isEqualTo(409);
    assertThat(loss(b)).containsOnlyKeys(7L);
    assertThat(loss(a)).isEmpty();
  }
}
