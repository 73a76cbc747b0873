package dev.distill.service.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import tools.jackson.databind.JsonNode;

/**
 * A {@code teacher_pass} with shards runs as tasks ({@code job/JobTasks}): each shard is claimed,
 * leased, fenced, expired and retried on its own, the seal comes last, and the job's status and
 * progress follow from its tasks. Real PostgreSQL, real HTTP.
 */
class TaskQueueTest extends ServiceTest {

  @Autowired Reaper reaper;

  private static String pass(int shards, int maxAttempts) {
    return """
        {"type": "teacher_pass", "teacher": "builtin:gemma2-tiny",
         "dataset": {"uri": "builtin:procedural"}, "max_attempts": %d,
         "teacher_pass": {"top_k": 8, "shards": %d}}
        """
        .formatted(maxAttempts, shards);
  }

  private static int task(Lease l) {
    return l.body().get("job").get("task").get("index").asInt();
  }

  private Resp tryClaim(String workerToken, String workerId) {
    return post("/v1/worker/claims", workerToken, claimBody(workerId, 0));
  }

  private JsonNode tasks(Project p, String id) {
    return job(p.viewer(), id).get("tasks");
  }

  private void expireTask(String jobId, int idx) {
    jdbc.update(
        "UPDATE job_tasks SET lease_expires_at = now() - interval '1 second'"
            + " WHERE job_id = ?::uuid AND idx = ?",
        jobId,
        idx);
  }

  private Resp complete(Project p, Lease l, long progress) {
    return post(l.path("complete"), p.worker(), Map.of("epoch", l.epoch(), "progress", progress));
  }

  @Test
  void twoClaimsGetDifferentTasksAndTheJobSucceedsWhenEveryTaskHas() {
    Project p = newProject();
    String id = createJob(p.member(), pass(2, 3));
    assertThat(tasks(p, id).get("total").asInt()).as("two shards and the seal").isEqualTo(3);
    assertThat(tasks(p, id).get("queued").asInt()).isEqualTo(3);

    Lease a = claim(p.worker(), "w-a");
    Lease b = claim(p.worker(), "w-b");
    assertThat(a.jobId()).isEqualTo(id);
    assertThat(b.jobId()).isEqualTo(id);
    assertThat(task(a)).isEqualTo(0);
    assertThat(task(b)).isEqualTo(1);
    assertThat(a.body().get("job").get("task").get("kind").asString()).isEqualTo("shard");
    assertThat(a.body().get("job").get("task").get("count").asInt()).isEqualTo(2);
    assertThat(a.leaseId()).isNotEqualTo(b.leaseId());
    assertThat(a.epoch()).isNotEqualTo(b.epoch());
    assertThat(tryClaim(p.worker(), "w-c").status())
        .as("the seal waits for every shard")
        .isEqualTo(204);

    JsonNode running = job(p.viewer(), id);
    assertThat(running.get("status").asString()).isEqualTo("RUNNING");
    assertThat(running.get("tasks").get("running").asInt()).isEqualTo(2);
    // both leases are live at once: each one's heartbeat carries its task's progress
    assertThat(
            post(a.path("heartbeat"), p.worker(), Map.of("epoch", a.epoch(), "step", 4)).status())
        .isEqualTo(200);
    assertThat(
            post(b.path("heartbeat"), p.worker(), Map.of("epoch", b.epoch(), "step", 3)).status())
        .isEqualTo(200);
    assertThat(tasks(p, id).get("sequences_done").asLong()).isEqualTo(7);

    assertThat(complete(p, a, 10).status()).isEqualTo(204);
    assertThat(job(p.viewer(), id).get("status").asString())
        .as("one task of three done")
        .isEqualTo("RUNNING");
    assertThat(tryClaim(p.worker(), "w-c").status()).isEqualTo(204);
    assertThat(complete(p, b, 11).status()).isEqualTo(204);
    assertThat(job(p.viewer(), id).get("status").asString()).isEqualTo("RUNNING");

    Lease seal = claim(p.worker(), "w-c");
    assertThat(task(seal)).isEqualTo(2);
    assertThat(seal.body().get("job").get("task").get("kind").asString()).isEqualTo("seal");
    Map<String, Object> ckpt =
        Map.of(
            "epoch",
            seal.epoch(),
            "uri",
            "file:/caches/abc",
            "step",
            100,
            "size_bytes",
            1,
            "sha256",
            "0".repeat(64),
            "final",
            true);
    assertThat(post(seal.path("checkpoints"), p.worker(), ckpt).status()).isEqualTo(204);
    assertThat(complete(p, seal, 0).status()).isEqualTo(204);

    JsonNode done = job(p.viewer(), id);
    assertThat(done.get("status").asString()).isEqualTo("SUCCEEDED");
    assertThat(done.get("output_uri").asString()).isEqualTo("file:/caches/abc");
    assertThat(done.get("tasks").get("succeeded").asInt()).isEqualTo(3);
    assertThat(done.get("tasks").get("sequences_done").asLong()).isEqualTo(21);
    List<String> owners =
        jdbc.queryForList(
            "SELECT data->>'worker' FROM job_events WHERE job_id = ?::uuid AND kind = 'task'"
                + " AND data->>'to' = 'SUCCEEDED' ORDER BY (data->>'task')::int",
            String.class,
            id);
    assertThat(owners).containsExactly("w-a", "w-b", "w-c");
    List<String> status =
        jdbc.queryForList(
            "SELECT message FROM job_events WHERE job_id = ?::uuid AND kind = 'status' ORDER BY id",
            String.class,
            id);
    assertThat(status).hasSize(3); // created, QUEUED -> RUNNING, RUNNING -> SUCCEEDED
  }

  @Test
  void aStaleTaskEpochIsFencedAndAnExpiredTaskIsRequeuedAlone() {
    Project p = newProject();
    String id = createJob(p.member(), pass(2, 3));
    Lease a = claim(p.worker(), "w-a");
    Lease b = claim(p.worker(), "w-b");

    // a's lease with b's epoch: fenced
    Resp wrong = post(a.path("heartbeat"), p.worker(), Map.of("epoch", b.epoch()));
    assertThat(wrong.status()).isEqualTo(409);
    assertThat(wrong.json().get("type").asString()).endsWith("/stale-epoch");

    assertThat(reaper.reap()).as("live task leases are not reaped").isZero();
    expireTask(id, task(a));
    Resp late = post(a.path("heartbeat"), p.worker(), Map.of("epoch", a.epoch()));
    assertThat(late.status()).as("expired by the database clock").isEqualTo(409);
    assertThat(reaper.reap()).isEqualTo(1);

    JsonNode job = job(p.viewer(), id);
    assertThat(job.get("status").asString()).isEqualTo("RUNNING");
    assertThat(job.get("tasks").get("running").asInt()).as("b's task runs on").isEqualTo(1);
    assertThat(job.get("tasks").get("queued").asInt()).isEqualTo(2);
    assertThat(post(b.path("heartbeat"), p.worker(), Map.of("epoch", b.epoch())).status())
        .isEqualTo(200);

    Lease again = claim(p.worker(), "w-c");
    assertThat(task(again)).as("the expired shard, not the seal").isEqualTo(task(a));
    assertThat(again.body().get("job").get("attempt").asInt()).isEqualTo(2);
    assertThat(again.epoch()).isGreaterThan(b.epoch());
    // the stale worker's writes change nothing
    Resp events =
        post(
            a.path("events"),
            p.worker(),
            Map.of(
                "epoch",
                a.epoch(),
                "events",
                List.of(Map.of("seq", 0, "kind", "shard_written", "message", "stale"))));
    assertThat(events.status()).isEqualTo(409);
    assertThat(complete(p, a, 5).status()).isEqualTo(409);
    assertThat(post(a.path("complete"), p.worker(), Map.of("epoch", again.epoch())).status())
        .as("the old lease id with the new epoch")
        .isEqualTo(409);
    assertThat(tasks(p, id).get("succeeded").asInt()).isZero();

    assertThat(complete(p, again, 5).status()).isEqualTo(204);
    assertThat(complete(p, b, 5).status()).isEqualTo(204);
    Lease seal = claim(p.worker(), "w-a");
    assertThat(complete(p, seal, 0).status()).isEqualTo(204);
    assertThat(job(p.viewer(), id).get("status").asString()).isEqualTo("SUCCEEDED");
    assertThat(job(p.viewer(), id).get("attempts").asInt())
        .as("the most any task took")
        .isEqualTo(2);
  }

  @Test
  void aTaskThatExhaustsItsAttemptsFailsTheJobWithItsReason() {
    Project p = newProject();
    String id = createJob(p.member(), pass(3, 2));
    Lease a = claim(p.worker(), "w-a");
    Lease b = claim(p.worker(), "w-b");
    Map<String, Object> fail = Map.of("epoch", a.epoch(), "reason", "disk full", "retryable", true);
    assertThat(post(a.path("fail"), p.worker(), fail).status()).isEqualTo(204);
    assertThat(tasks(p, id).get("queued").asInt()).as("retried alone").isEqualTo(3);
    assertThat(job(p.viewer(), id).get("status").asString()).isEqualTo("RUNNING");

    // a released task spends no attempt
    Lease r = claim(p.worker(), "w-r");
    assertThat(task(r)).isEqualTo(0);
    assertThat(
            post(r.path("release"), p.worker(), Map.of("epoch", r.epoch(), "reason", "shutdown"))
                .status())
        .isEqualTo(204);

    Lease a2 = claim(p.worker(), "w-a");
    assertThat(task(a2)).isEqualTo(0);
    assertThat(a2.body().get("job").get("attempt").asInt()).isEqualTo(2);
    Map<String, Object> fail2 =
        Map.of("epoch", a2.epoch(), "reason", "disk still full", "retryable", true);
    assertThat(post(a2.path("fail"), p.worker(), fail2).status()).isEqualTo(204);

    JsonNode job = job(p.viewer(), id);
    assertThat(job.get("status").asString()).isEqualTo("FAILED");
    assertThat(job.get("failure_reason").asString())
        .contains("task 0 (shard 0 of 3)")
        .contains("no attempts left")
        .contains("disk still full");
    assertThat(job.get("tasks").get("failed").asInt()).isEqualTo(1);
    assertThat(job.get("tasks").get("cancelled").asInt()).as("the others end with it").isEqualTo(3);
    assertThat(post(b.path("heartbeat"), p.worker(), Map.of("epoch", b.epoch())).status())
        .as("the sibling's lease ended with the job")
        .isEqualTo(409);
    assertThat(tryClaim(p.worker(), "w-c").status()).isEqualTo(204);
    assertThat(
            jdbc.queryForObject(
                "SELECT last_error FROM job_tasks WHERE job_id = ?::uuid AND idx = 0",
                String.class,
                id))
        .contains("disk still full");
  }

  @Test
  void cancelReachesEveryTask() {
    Project p = newProject();
    String id = createJob(p.member(), pass(2, 3));
    Lease a = claim(p.worker(), "w-a");
    Lease b = claim(p.worker(), "w-b");
    assertThat(complete(p, b, 3).status()).isEqualTo(204);
    assertThat(post("/v1/jobs/" + id + "/cancel", p.member(), "").status()).isEqualTo(200);

    JsonNode cancelling = job(p.viewer(), id);
    assertThat(cancelling.get("status").asString()).isEqualTo("CANCELLING");
    assertThat(cancelling.get("tasks").get("cancelled").asInt()).as("the seal").isEqualTo(1);
    assertThat(cancelling.get("tasks").get("running").asInt()).isEqualTo(1);
    Resp hb = post(a.path("heartbeat"), p.worker(), Map.of("epoch", a.epoch()));
    assertThat(hb.status()).isEqualTo(200);
    assertThat(hb.json().get("cancel_requested").asBoolean()).isTrue();
    assertThat(tryClaim(p.worker(), "w-c").status()).isEqualTo(204);

    Map<String, Object> stopped =
        Map.of("epoch", a.epoch(), "reason", "cancelled", "retryable", false, "cancelled", true);
    assertThat(post(a.path("fail"), p.worker(), stopped).status()).isEqualTo(204);
    JsonNode job = job(p.viewer(), id);
    assertThat(job.get("status").asString()).isEqualTo("CANCELLED");
    assertThat(job.get("tasks").get("cancelled").asInt()).isEqualTo(2);
    assertThat(job.get("tasks").get("succeeded").asInt()).isEqualTo(1);

    // a queued job of tasks is cancelled at once, every task with it
    String queued = createJob(p.member(), pass(2, 3));
    assertThat(post("/v1/jobs/" + queued + "/cancel", p.member(), "").status()).isEqualTo(200);
    assertThat(job(p.viewer(), queued).get("status").asString()).isEqualTo("CANCELLED");
    assertThat(tasks(p, queued).get("cancelled").asInt()).isEqualTo(3);
  }

  @Test
  void aOneShardPassAndOtherJobsHaveNoTasks() {
    Project p = newProject();
    String id = createJob(p.member(), pass(1, 3));
    assertThat(job(p.viewer(), id).has("tasks")).isFalse();
    Lease l = claim(p.worker(), "w");
    assertThat(l.body().get("job").has("task")).isFalse();
    assertThat(post(l.path("complete"), p.worker(), Map.of("epoch", l.epoch())).status())
        .isEqualTo(204);
    assertThat(job(p.viewer(), id).get("status").asString()).isEqualTo("SUCCEEDED");
  }
}
