package dev.distill.service.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/**
 * An evaluate job with {@code checkpoints.select: all}: its claim hands over every live checkpoint
 * of the student job, and when it completes the checkpoint its output names as best is marked in
 * the student job's checkpoints.
 */
class BestCheckpointTest extends ServiceTest {

  private static final String SHA = "cd".repeat(32);

  @Test
  void evaluationOverAllCheckpointsMarksTheBestInTheStudentJob() {
    Project p = newProject();
    String trained = createJob(p.member(), minimal("finetune", 0));
    Lease t = claim(p.worker(), "w");
    checkpoint(p, t, "file:/ckpt/t/step-5", 5, false, Map.of(), List.of());
    checkpoint(p, t, "file:/ckpt/t/step-10", 10, false, Map.of(), List.of());
    // keep_checkpoints pruned step 5: it is not handed out
    checkpoint(p, t, "file:/ckpt/t/step-20", 20, false, Map.of(), List.of("file:/ckpt/t/step-5"));
    checkpoint(p, t, "file:/ckpt/t/step-30", 30, false, Map.of(), List.of());
    checkpoint(p, t, "file:/ckpt/t/final", 30, true, Map.of(), List.of());
    assertThat(post(t.path("complete"), p.worker(), Map.of("epoch", t.epoch())).status())
        .isEqualTo(204);

    String eval = createJob(p.member(), evaluate(trained, "{\"select\":\"all\"}"));
    Lease e = claim(p.worker(), "w");
    assertThat(e.jobId()).isEqualTo(eval);
    JsonNode artifacts = e.body().get("artifacts");
    assertThat(artifacts.get(trained).get("uri").asString()).isEqualTo("file:/ckpt/t/final");
    assertThat(artifacts.get(trained + "@10").get("uri").asString())
        .isEqualTo("file:/ckpt/t/step-10");
    assertThat(artifacts.get(trained + "@20").get("uri").asString())
        .isEqualTo("file:/ckpt/t/step-20");
    assertThat(artifacts.get(trained + "@30").get("uri").asString())
        .as("the final checkpoint where it shares its step")
        .isEqualTo("file:/ckpt/t/final");
    assertThat(artifacts.has(trained + "@5")).isFalse();
    checkpoint(
        p,
        e,
        "file:/out/e/final",
        0,
        true,
        Map.of("val_loss", 1.25, "exact_match", 0.1, "best_step", 20.0),
        List.of());
    assertThat(post(e.path("complete"), p.worker(), Map.of("epoch", e.epoch())).status())
        .isEqualTo(204);

    Map<String, JsonNode> listed = byUri(p, trained);
    JsonNode best = listed.get("file:/ckpt/t/step-20");
    assertThat(best.get("best").asBoolean()).isTrue();
    assertThat(best.get("best_by").get("metric").asString()).isEqualTo("val_loss");
    assertThat(best.get("best_by").get("mode").asString()).isEqualTo("min");
    assertThat(best.get("best_by").get("value").asDouble()).isEqualTo(1.25);
    assertThat(best.get("best_by").get("evaluation").asString()).isEqualTo(eval);
    for (String other :
        List.of("file:/ckpt/t/step-10", "file:/ckpt/t/step-30", "file:/ckpt/t/final")) {
      assertThat(listed.get(other).get("best").asBoolean()).as(other).isFalse();
      assertThat(listed.get(other).has("best_by")).as(other).isFalse();
    }

    // a later evaluation by another metric moves the mark
    String second =
        createJob(
            p.member(), evaluate(trained, "{\"select\":\"all\",\"best_by\":\"exact_match\"}"));
    Lease s = claim(p.worker(), "w");
    assertThat(s.jobId()).isEqualTo(second);
    checkpoint(
        p,
        s,
        "file:/out/s/final",
        0,
        true,
        Map.of("val_loss", 1.5, "exact_match", 0.5, "best_step", 30.0),
        List.of());
    post(s.path("complete"), p.worker(), Map.of("epoch", s.epoch()));
    listed = byUri(p, trained);
    assertThat(listed.get("file:/ckpt/t/step-20").get("best").asBoolean()).isFalse();
    JsonNode moved = listed.get("file:/ckpt/t/final");
    assertThat(moved.get("best").asBoolean()).isTrue();
    assertThat(moved.get("best_by").get("metric").asString()).isEqualTo("exact_match");
    assertThat(moved.get("best_by").get("mode").asString()).isEqualTo("max");
    assertThat(moved.get("best_by").get("value").asDouble()).isEqualTo(0.5);
    assertThat(listed.get("file:/ckpt/t/step-30").get("best").asBoolean()).isFalse();
  }

  @Test
  void checkpointSelectionIsValidatedByField() {
    Project p = newProject();
    Resp builtin =
        post(
            "/v1/jobs",
            p.member(),
            "{\"type\":\"evaluate\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":"
                + "\"builtin:procedural\"},\"checkpoints\":{\"select\":\"all\"}}");
    assertThat(builtin.status()).isEqualTo(422);
    assertThat(builtin.json().get("errors").get(0).get("field").asString())
        .isEqualTo("checkpoints.select");
    Resp metric =
        post(
            "/v1/jobs",
            p.member(),
            evaluate(
                "00000000-0000-0000-0000-000000000000",
                "{\"select\":\"all\",\"best_by\":\"judge_mean\"}"));
    assertThat(metric.status()).isEqualTo(422);
    assertThat(metric.json().get("errors").get(0).get("field").asString())
        .isEqualTo("checkpoints.best_by");
    Resp notEvaluate =
        post(
            "/v1/jobs",
            p.member(),
            "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":"
                + "\"builtin:procedural\"},\"checkpoints\":{\"select\":\"all\"}}");
    assertThat(notEvaluate.status()).isEqualTo(422);
    assertThat(notEvaluate.json().get("errors").get(0).get("field").asString())
        .isEqualTo("checkpoints");
  }

  private static String evaluate(String student, String checkpoints) {
    return "{\"type\":\"evaluate\",\"student\":\"job:"
        + student
        + "\",\"dataset\":{\"uri\":\"builtin:procedural\"},\"checkpoints\":"
        + checkpoints
        + "}";
  }

  private Map<String, JsonNode> byUri(Project p, String jobId) {
    Map<String, JsonNode> m = new java.util.HashMap<>();
    get("/v1/jobs/" + jobId + "/checkpoints", p.viewer())
        .json()
        .get("items")
        .forEach(c -> m.put(c.get("uri").asString(), c));
    return m;
  }

  private void checkpoint(
      Project p,
      Lease l,
      String uri,
      long step,
      boolean isFinal,
      Map<String, Double> metrics,
      List<String> deleted) {
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
                metrics,
                "final",
                isFinal,
                "deleted",
                deleted));
    assertThat(r.status()).as(r.body()).isEqualTo(204);
  }
}
