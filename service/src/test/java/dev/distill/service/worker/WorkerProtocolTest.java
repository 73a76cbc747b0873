package dev.distill.service.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/** Claims, heartbeats, the worker's writes and how attempts end. */
class WorkerProtocolTest extends ServiceTest {

  private static final String SHA = "ab".repeat(32);

  @Test
  void claimLeasesTheJobAndReturnsWhatTheWorkerNeeds() {
    Project p = newProject();
    String id = createJob(p.member(), example("distill"));
    Lease lease = claim(p.worker(), "w-1");
    assertThat(lease.jobId()).isEqualTo(id);
    assertThat(lease.epoch()).isEqualTo(1);
    JsonNode body = lease.body();
    assertThat(body.get("job").get("attempt").asInt()).isEqualTo(1);
    assertThat(body.get("job").get("spec").get("type").asString()).isEqualTo("distill");
    assertThat(body.get("lease_expires_at").asString()).isNotBlank();
    assertThat(body.get("artifacts").isEmpty()).isTrue();
    JsonNode job = job(p.viewer(), id);
    assertThat(job.get("status").asString()).isEqualTo("RUNNING");
    assertThat(job.get("worker_id").asString()).isEqualTo("w-1");
    assertThat(job.get("attempts").asInt()).isEqualTo(1);
    // nothing else is queued: 204 without waiting
    Resp none = post("/v1/worker/claims", p.worker(), claimBody("w-2", 0));
    assertThat(none.status()).isEqualTo(204);
    // the worker is listed with its current job
    JsonNode workers = get("/v1/workers", p.viewer()).json().get("items");
    assertThat(workers).hasSize(2);
    assertThat(workers.get(0).get("id").asString()).isEqualTo("w-1");
    assertThat(workers.get(0).get("current_job_id").asString()).isEqualTo(id);
    assertThat(workers.get(0).get("memory_mb").asLong()).isEqualTo(16000);
  }

  @Test
  void claimsGoByPriorityThenAge() {
    Project p = newProject();
    String low = createJob(p.member(), minimal("distill", 0));
    String high = createJob(p.member(), minimal("distill", 5));
    String lowLater = createJob(p.member(), minimal("distill", 0));
    assertThat(claim(p.worker(), "w").jobId()).isEqualTo(high);
    assertThat(claim(p.worker(), "w").jobId()).isEqualTo(low);
    assertThat(claim(p.worker(), "w").jobId()).isEqualTo(lowLater);
  }

  @Test
  void claimsHonourCapabilityRequirements() {
    Project p = newProject();
    String gpu =
        createJob(
            p.member(),
            "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"builtin:procedural\"},"
                + "\"requirements\":{\"device\":\"cuda\",\"min_memory_mb\":20000,\"labels\":{\"pool\":\"research\"}}}");
    assertThat(post("/v1/worker/claims", p.worker(), claimBody("cpu", 0)).status()).isEqualTo(204);
    Map<String, Object> smallGpu =
        Map.of(
            "worker_id",
            "g1",
            "capabilities",
            Map.of("device", "cuda", "memory_mb", 8000, "labels", Map.of("pool", "research")));
    assertThat(post("/v1/worker/claims", p.worker(), smallGpu).status()).isEqualTo(204);
    Map<String, Object> unlabelled =
        Map.of("worker_id", "g2", "capabilities", Map.of("device", "cuda", "memory_mb", 40000));
    assertThat(post("/v1/worker/claims", p.worker(), unlabelled).status()).isEqualTo(204);
    Map<String, Object> fit =
        Map.of(
            "worker_id",
            "g3",
            "capabilities",
            Map.of(
                "device",
                "cuda",
                "memory_mb",
                40000,
                "labels",
                Map.of("pool", "research", "zone", "a")));
    Resp r = post("/v1/worker/claims", p.worker(), fit);
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.json().get("job").get("id").asString()).isEqualTo(gpu);
  }

  @Test
  void heartbeatExtendsTheLeaseAndEventsAndMetricsAreIdempotent() {
    Project p = newProject();
    createJob(p.member(), example("finetune"));
    Lease l = claim(p.worker(), "w");
    jdbc.update(
        "UPDATE jobs SET lease_expires_at = now() + interval '5 seconds' WHERE id = ?::uuid",
        l.jobId());
    Resp hb = post(l.path("heartbeat"), p.worker(), Map.of("epoch", l.epoch()));
    assertThat(hb.status()).as(hb.body()).isEqualTo(200);
    assertThat(hb.json().get("cancel_requested").asBoolean()).isFalse();
    Double left =
        jdbc.queryForObject(
            "SELECT EXTRACT(EPOCH FROM lease_expires_at - now())::float8 FROM jobs WHERE id = ?::uuid",
            Double.class,
            l.jobId());
    assertThat(left).isGreaterThan(30.0);

    Map<String, Object> events =
        Map.of(
            "epoch",
            l.epoch(),
            "events",
            List.of(
                Map.of(
                    "seq",
                    0,
                    "kind",
                    "eval",
                    "message",
                    "val loss 2.1",
                    "data",
                    Map.of("loss", 2.1)),
                Map.of("seq", 1, "level", "warn", "message", "truncated 3 examples")));
    assertThat(post(l.path("events"), p.worker(), events).json().get("accepted").asInt())
        .isEqualTo(2);
    assertThat(post(l.path("events"), p.worker(), events).json().get("accepted").asInt()).isZero();

    Map<String, Object> metrics =
        Map.of(
            "epoch",
            l.epoch(),
            "points",
            List.of(
                Map.of("step", 1, "name", "loss", "value", 3.0),
                Map.of("step", 2, "name", "loss", "value", 2.5),
                Map.of("step", 2, "name", "kl", "value", 0.7)));
    assertThat(post(l.path("metrics"), p.worker(), metrics).status()).isEqualTo(200);
    assertThat(post(l.path("metrics"), p.worker(), metrics).status()).isEqualTo(200);
    assertThat(
            jdbc.queryForObject(
                "SELECT count(*) FROM job_metrics WHERE job_id = ?::uuid",
                Integer.class,
                l.jobId()))
        .isEqualTo(3);

    JsonNode series =
        get("/v1/jobs/" + l.jobId() + "/metrics?names=loss&after_step=1", p.viewer())
            .json()
            .get("series");
    assertThat(series.has("kl")).isFalse();
    assertThat(series.get("loss")).hasSize(1);
    assertThat(series.get("loss").get(0).get("value").asDouble()).isEqualTo(2.5);
    JsonNode latest = job(p.viewer(), l.jobId()).get("latest_metrics");
    assertThat(latest.get("loss").asDouble()).isEqualTo(2.5);
    assertThat(latest.get("kl").asDouble()).isEqualTo(0.7);

    JsonNode items =
        get("/v1/jobs/" + l.jobId() + "/events?after=0", p.viewer()).json().get("items");
    assertThat(items).hasSize(4); // created, claimed, two worker events
    assertThat(items.get(2).get("kind").asString()).isEqualTo("eval");
    assertThat(items.get(3).get("level").asString()).isEqualTo("warn");
    long cursor = items.get(1).get("id").asLong();
    assertThat(
            get("/v1/jobs/" + l.jobId() + "/events?after=" + cursor, p.viewer())
                .json()
                .get("items"))
        .hasSize(2);
  }

  @Test
  void completeTakesTheFinalCheckpointAsOutput() {
    Project p = newProject();
    createJob(p.member(), example("distill"));
    Lease l = claim(p.worker(), "w");
    checkpoint(p, l, "file:/ckpt/a/step-100", 100, false);
    checkpoint(p, l, "file:/ckpt/a/final", 150, true);
    checkpoint(p, l, "file:/ckpt/a/step-200", 200, false);
    assertThat(post(l.path("complete"), p.worker(), Map.of("epoch", l.epoch())).status())
        .isEqualTo(204);
    JsonNode job = job(p.viewer(), l.jobId());
    assertThat(job.get("status").asString()).isEqualTo("SUCCEEDED");
    assertThat(job.get("output_uri").asString()).isEqualTo("file:/ckpt/a/final");
    assertThat(get("/v1/jobs/" + l.jobId() + "/checkpoints", p.viewer()).json().get("items"))
        .hasSize(3);
    // the lease is gone: further writes are 409
    assertThat(post(l.path("heartbeat"), p.worker(), Map.of("epoch", l.epoch())).status())
        .isEqualTo(409);
  }

  @Test
  void checkpointsTheWorkerDeletedAreNoLongerListedResumedFromOrOutput() {
    Project p = newProject();
    String id =
        createJob(
            p.member(),
            "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"builtin:procedural\"},\"max_attempts\":3}");
    Lease first = claim(p.worker(), "w");
    checkpoint(p, first, "file:/ckpt/d/step-1", 1, false);
    checkpoint(p, first, "file:/ckpt/d/step-2", 2, false);
    // keep_checkpoints 2: writing step 3 pruned step 1
    checkpoint(p, first, "file:/ckpt/d/step-3", 3, false, List.of("file:/ckpt/d/step-1"));
    assertThat(listedCheckpoints(p, id))
        .containsExactly("file:/ckpt/d/step-2", "file:/ckpt/d/step-3");
    fail(p, first, "out of memory", true);

    // the next attempt found step 3 damaged, set it aside, resumed from step 2 and wrote step 2.5
    // elsewhere; a registration naming its own uri as deleted keeps it
    Lease second = claim(p.worker(), "w");
    assertThat(second.body().get("job").get("resume_from").get("uri").asString())
        .isEqualTo("file:/ckpt/d/step-3");
    checkpoint(
        p,
        second,
        "file:/ckpt/e/step-2",
        2,
        false,
        List.of("file:/ckpt/d/step-3", "file:/ckpt/e/step-2"));
    assertThat(listedCheckpoints(p, id))
        .containsExactly("file:/ckpt/d/step-2", "file:/ckpt/e/step-2");
    fail(p, second, "out of memory", true);
    Lease third = claim(p.worker(), "w");
    assertThat(third.body().get("job").get("resume_from").get("uri").asString())
        .isEqualTo("file:/ckpt/e/step-2");

    // a deleted uri written again is listed again
    checkpoint(p, third, "file:/ckpt/d/step-3", 3, false, List.of("file:/ckpt/d/step-2"));
    assertThat(listedCheckpoints(p, id))
        .containsExactly("file:/ckpt/e/step-2", "file:/ckpt/d/step-3");
    checkpoint(
        p,
        third,
        "file:/ckpt/d/step-1",
        1,
        false,
        List.of("file:/ckpt/d/step-3", "file:/ckpt/e/step-2"));
    Resp bad =
        post(
            third.path("checkpoints"),
            p.worker(),
            Map.of(
                "epoch",
                third.epoch(),
                "uri",
                "file:/x",
                "step",
                1,
                "size_bytes",
                1,
                "sha256",
                SHA,
                "deleted",
                List.of("/not/a/uri")));
    assertThat(bad.status()).isEqualTo(422);
    assertThat(bad.json().get("errors").get(0).get("field").asString()).isEqualTo("deleted[0]");
    assertThat(post(third.path("complete"), p.worker(), Map.of("epoch", third.epoch())).status())
        .isEqualTo(204);
    assertThat(job(p.viewer(), id).get("output_uri").asString()).isEqualTo("file:/ckpt/d/step-1");
  }

  @Test
  void withoutAFinalCheckpointTheHighestStepIsTheOutput() {
    Project p = newProject();
    createJob(p.member(), example("finetune"));
    Lease l = claim(p.worker(), "w");
    checkpoint(p, l, "file:/ckpt/b/step-300", 300, false);
    checkpoint(p, l, "file:/ckpt/b/step-100", 100, false);
    post(l.path("complete"), p.worker(), Map.of("epoch", l.epoch()));
    assertThat(job(p.viewer(), l.jobId()).get("output_uri").asString())
        .isEqualTo("file:/ckpt/b/step-300");
  }

  @Test
  void retryableFailureRequeuesUntilAttemptsRunOut() {
    Project p = newProject();
    String id =
        createJob(
            p.member(),
            "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"builtin:procedural\"},\"max_attempts\":2}");
    Lease first = claim(p.worker(), "w");
    checkpoint(p, first, "file:/ckpt/c/step-10", 10, false);
    fail(p, first, "out of memory", true);
    JsonNode queued = job(p.viewer(), id);
    assertThat(queued.get("status").asString()).isEqualTo("QUEUED");
    assertThat(queued.get("attempts").asInt()).isEqualTo(1);

    Lease second = claim(p.worker(), "w");
    assertThat(second.epoch()).isEqualTo(2);
    assertThat(second.body().get("job").get("attempt").asInt()).isEqualTo(2);
    assertThat(second.body().get("job").get("resume_from").get("uri").asString())
        .isEqualTo("file:/ckpt/c/step-10");
    fail(p, second, "out of memory", true);
    JsonNode failed = job(p.viewer(), id);
    assertThat(failed.get("status").asString()).isEqualTo("FAILED");
    assertThat(failed.get("failure_reason").asString())
        .contains("no attempts left")
        .contains("out of memory");
    assertThat(failed.get("retryable").asBoolean()).isTrue();
  }

  @Test
  void nonRetryableFailureFailsAtOnce() {
    Project p = newProject();
    String id = createJob(p.member(), example("finetune"));
    fail(p, claim(p.worker(), "w"), "dataset file is not JSONL", false);
    JsonNode job = job(p.viewer(), id);
    assertThat(job.get("status").asString()).isEqualTo("FAILED");
    assertThat(job.get("failure_reason").asString()).isEqualTo("dataset file is not JSONL");
    assertThat(job.get("attempts").asInt()).isEqualTo(1);
  }

  @Test
  void cancellingARunningJobIsSeenByHeartbeatAndEndsCancelled() {
    Project p = newProject();
    String id = createJob(p.member(), example("distill"));
    Lease l = claim(p.worker(), "w");
    Resp c = post("/v1/jobs/" + id + "/cancel", p.member(), "");
    assertThat(c.json().get("status").asString()).isEqualTo("CANCELLING");
    assertThat(post("/v1/jobs/" + id + "/cancel", p.member(), "").json().get("status").asString())
        .isEqualTo("CANCELLING");
    Resp hb = post(l.path("heartbeat"), p.worker(), Map.of("epoch", l.epoch()));
    assertThat(hb.json().get("cancel_requested").asBoolean()).isTrue();
    Resp stop =
        post(
            l.path("fail"),
            p.worker(),
            Map.of("epoch", l.epoch(), "reason", "stopped on request", "cancelled", true));
    assertThat(stop.status()).isEqualTo(204);
    assertThat(job(p.viewer(), id).get("status").asString()).isEqualTo("CANCELLED");
  }

  @Test
  void aWorkerThatFinishesBeforeSeeingTheCancelSucceeds() {
    Project p = newProject();
    String id = createJob(p.member(), example("distill"));
    Lease l = claim(p.worker(), "w");
    post("/v1/jobs/" + id + "/cancel", p.member(), "");
    post(l.path("complete"), p.worker(), Map.of("epoch", l.epoch()));
    assertThat(job(p.viewer(), id).get("status").asString()).isEqualTo("SUCCEEDED");
  }

  @Test
  void dependentJobWaitsForItsDependencyAndGetsItsArtifact() {
    Project p = newProject();
    String synth = createJob(p.member(), example("synthesize"));
    String distill =
        createJob(
            p.member(),
            "{\"type\":\"distill\",\"teacher\":\"builtin:gemma2-demo-teacher\",\"student\":\"builtin:gemma2-tiny\","
                + "\"dataset\":{\"uri\":\"job:"
                + synth
                + "\"},\"priority\":100}");
    Lease s = claim(p.worker(), "w");
    assertThat(s.jobId())
        .as("the dependent job has higher priority but must wait")
        .isEqualTo(synth);
    assertThat(post("/v1/worker/claims", p.worker(), claimBody("w2", 0)).status()).isEqualTo(204);
    checkpoint(p, s, "file:/data/synth/out", 200, true);
    post(s.path("complete"), p.worker(), Map.of("epoch", s.epoch()));
    Lease d = claim(p.worker(), "w2");
    assertThat(d.jobId()).isEqualTo(distill);
    JsonNode artifact = d.body().get("artifacts").get(synth);
    assertThat(artifact.get("uri").asString()).isEqualTo("file:/data/synth/out");
    assertThat(artifact.get("step").asLong()).isEqualTo(200);
    assertThat(artifact.get("sha256").asString()).isEqualTo(SHA);
    assertThat(artifact.get("size_bytes").asLong()).isEqualTo(1234);
  }

  @Test
  void dependentJobFailsWhenItsDependencyFails() {
    Project p = newProject();
    String synth = createJob(p.member(), example("synthesize"));
    String distill =
        createJob(
            p.member(),
            "{\"type\":\"distill\",\"teacher\":\"job:"
                + synth
                + "\",\"student\":\"builtin:gemma2-tiny\","
                + "\"dataset\":{\"uri\":\"builtin:procedural\"}}");
    post("/v1/jobs/" + synth + "/cancel", p.member(), "");
    JsonNode job = job(p.viewer(), distill);
    assertThat(job.get("status").asString()).isEqualTo("FAILED");
    assertThat(job.get("failure_reason").asString()).contains(synth).contains("CANCELLED");
    // a new job naming the dead dependency fails at once
    String late =
        createJob(
            p.member(),
            "{\"type\":\"distill\",\"teacher\":\"job:"
                + synth
                + "\",\"student\":\"builtin:gemma2-tiny\","
                + "\"dataset\":{\"uri\":\"builtin:procedural\"}}");
    assertThat(job(p.viewer(), late).get("status").asString()).isEqualTo("FAILED");
  }

  @Test
  void invalidWorkerBodiesNameTheField() {
    Project p = newProject();
    Resp noId = post("/v1/worker/claims", p.worker(), Map.of("wait_seconds", 99));
    assertThat(noId.status()).isEqualTo(422);
    assertThat(noId.body()).contains("worker_id").contains("wait_seconds");
    Resp device =
        post(
            "/v1/worker/claims",
            p.worker(),
            Map.of("worker_id", "w", "capabilities", Map.of("device", "tpu")));
    assertThat(device.status()).isEqualTo(422);
    assertThat(device.json().get("errors").get(0).get("field").asString())
        .isEqualTo("capabilities.device");
    createJob(p.member(), example("finetune"));
    Lease l = claim(p.worker(), "w");
    Resp nan =
        post(
            l.path("metrics"),
            p.worker(),
            Map.of(
                "epoch",
                l.epoch(),
                "points",
                List.of(Map.of("step", -1, "name", "loss", "value", 1.0))));
    assertThat(nan.status()).isEqualTo(422);
    assertThat(nan.json().get("errors").get(0).get("field").asString()).isEqualTo("points[0].step");
    Resp unknown =
        post(l.path("heartbeat"), p.worker(), Map.of("epoch", l.epoch(), "progress", 0.5));
    assertThat(unknown.status()).isEqualTo(422);
    assertThat(unknown.json().get("errors").get(0).get("field").asString()).isEqualTo("progress");
  }

  private void checkpoint(Project p, Lease l, String uri, long step, boolean isFinal) {
    checkpoint(p, l, uri, step, isFinal, List.of());
  }

  private void checkpoint(
      Project p, Lease l, String uri, long step, boolean isFinal, List<String> deleted) {
    Resp r =
        post(
            l.path("checkpoints"),
            p.worker(),
            Map.of(
                "epoch",
                l.epoch(),
                "uri",
                uri,
                "step",
                step,
                "size_bytes",
                1234,
                "sha256",
                SHA,
                "metrics",
                Map.of("val_loss", 1.5),
                "final",
                isFinal,
                "deleted",
                deleted));
    assertThat(r.status()).as(r.body()).isEqualTo(204);
  }

  private List<String> listedCheckpoints(Project p, String jobId) {
    List<String> uris = new java.util.ArrayList<>();
    get("/v1/jobs/" + jobId + "/checkpoints", p.viewer())
        .json()
        .get("items")
        .forEach(c -> uris.add(c.get("uri").asString()));
    return uris;
  }

  private void fail(Project p, Lease l, String reason, boolean retryable) {
    Resp r =
        post(
            l.path("fail"),
            p.worker(),
            Map.of("epoch", l.epoch(), "reason", reason, "retryable", retryable));
    assertThat(r.status()).as(r.body()).isEqualTo(204);
  }
}
