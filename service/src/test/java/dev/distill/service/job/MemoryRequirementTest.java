package dev.distill.service.job;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import dev.distill.spec.JobSpec;
import dev.distill.spec.SpecJson;
import dev.distill.spec.plan.Precision;
import dev.distill.spec.plan.SpecPlans;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/**
 * The service sets a job's memory requirement from its memory plan, only workers that fit claim it,
 * and a job that no registered worker fits says so in an event.
 */
class MemoryRequirementTest extends ServiceTest {

  /** A 2.6B-shaped student (2.0B on the byte vocabulary): about 31,000 MiB in fp32 with AdamW. */
  private static final String BIG =
      "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-2b\",\"dataset\":{\"uri\":\"builtin:procedural\"}}";

  private static Map<String, Object> worker(String id, long memoryMb) {
    return Map.of(
        "worker_id",
        id,
        "capabilities",
        Map.of("device", "cpu", "memory_mb", memoryMb),
        "wait_seconds",
        0);
  }

  private static long planMib(String body) {
    JobSpec spec = SpecJson.mapper().readValue(body, JobSpec.class);
    return SpecPlans.plan(spec, Precision.FP32).orElseThrow().totalMib();
  }

  private JsonNode events(String token, String id) {
    return get("/v1/jobs/" + id + "/events", token).json().get("items");
  }

  @Test
  void theRequirementIsThePlansTotalAndOnlyAWorkerThatFitsClaims() {
    Project p = newProject();
    long need = planMib(BIG);
    assertThat(need).isBetween(25_000L, 40_000L);
    String id = createJob(p.member(), BIG);
    JsonNode created = events(p.viewer(), id).get(0);
    assertThat(created.get("kind").asString()).isEqualTo("status");
    JsonNode plan = created.get("data").get("memory_plan");
    assertThat(plan.get("min_memory_mb").asLong()).isEqualTo(need);
    assertThat(plan.get("precision").asString()).isEqualTo("fp32");
    assertThat(plan.get("components").get("optimizer_state").asLong()).isPositive();
    // one MiB short: not claimed; exactly enough: claimed
    assertThat(post("/v1/worker/claims", p.worker(), worker("short", need - 1)).status())
        .isEqualTo(204);
    var r = post("/v1/worker/claims", p.worker(), worker("enough", need));
    assertThat(r.status()).as(r.body()).isEqualTo(200);
    assertThat(r.json().get("job").get("id").asString()).isEqualTo(id);
  }

  @Test
  void aJobNoRegisteredWorkerFitsSaysSo() {
    Project p = newProject();
    assertThat(post("/v1/worker/claims", p.worker(), worker("small-1", 8000)).status())
        .isEqualTo(204);
    assertThat(post("/v1/worker/claims", p.worker(), worker("small-2", 12000)).status())
        .isEqualTo(204);
    long need = planMib(BIG);
    String id = createJob(p.member(), BIG);
    JsonNode warn = events(p.viewer(), id).get(1);
    assertThat(warn.get("kind").asString()).isEqualTo("no_worker_fits");
    assertThat(warn.get("level").asString()).isEqualTo("warn");
    assertThat(warn.get("message").asString())
        .isEqualTo(
            String.format(
                "no registered worker has %,d MiB; largest is 12,000 MiB (of 2 workers)", need));
    assertThat(warn.get("data").get("largest_worker_memory_mb").asLong()).isEqualTo(12000);
    // a small job in the same project fits them: no such event
    String small = createJob(p.member(), minimal("distill", 0));
    assertThat(events(p.viewer(), small)).hasSize(1);
  }

  @Test
  void aRequirementTheSpecSetsIsKeptAndNoPlanIsRecorded() {
    Project p = newProject();
    String id =
        createJob(
            p.member(),
            "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-2b\",\"dataset\":{\"uri\":\"builtin:procedural\"},"
                + "\"requirements\":{\"min_memory_mb\":1000}}");
    assertThat(events(p.viewer(), id).get(0).get("data").has("memory_plan")).isFalse();
    var r = post("/v1/worker/claims", p.worker(), worker("w", 1000));
    assertThat(r.status()).as(r.body()).isEqualTo(200);
  }

  @Test
  void aTeacherCacheJobIsPlannedWithItsPassJobsTopKAndNoTeacher() {
    Project p = newProject();
    String pass =
        createJob(
            p.member(),
            "{\"type\":\"teacher_pass\",\"teacher\":\"builtin:gemma2-tiny\","
                + "\"dataset\":{\"uri\":\"builtin:procedural\"},\"teacher_pass\":{\"top_k\":512}}");
    String cached =
        ("{\"type\":\"distill\",\"teacher_logits\":\"job:%s\",\"student\":"
                + "{\"uri\":\"builtin:gemma2-tiny\",\"tokenizer\":\"byte\"},"
                + "\"dataset\":{\"uri\":\"builtin:procedural\"}}")
            .formatted(pass);
    String id = createJob(p.member(), cached);
    JsonNode c = events(p.viewer(), id).get(0).get("data").get("memory_plan").get("components");
    JobSpec spec = SpecJson.mapper().readValue(cached, JobSpec.class);
    var expected = SpecPlans.plan(spec, Precision.FP32, 512).orElseThrow();
    assertThat(c.get("teacher_weights").asLong()).isZero();
    assertThat(c.get("teacher_cache").asLong())
        .isEqualTo(expected.components().get("teacher_cache"))
        .isGreaterThan(
            SpecPlans.plan(spec, Precision.FP32).orElseThrow().components().get("teacher_cache"));
  }

  @Test
  void theOpenApiDocumentShowsTheWaitingReason() {
    JsonNode job =
        get("/v3/api-docs", null).json().get("components").get("schemas").get("JobResource");
    assertThat(job.get("properties").has("waiting_reason")).isTrue();
  }
}
