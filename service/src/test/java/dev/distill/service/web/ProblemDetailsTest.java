package dev.distill.service.web;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import org.junit.jupiter.api.Test;

/** Every error is application/problem+json with a stable type and no internals. */
class ProblemDetailsTest extends ServiceTest {

  private void assertProblem(Resp r, int status, String type) {
    assertThat(r.status()).as(r.body()).isEqualTo(status);
    assertThat(r.header("Content-Type")).startsWith("application/problem+json");
    assertThat(r.json().get("type").asString()).isEqualTo(ProblemWriter.TYPE_BASE + type);
    assertThat(r.json().get("status").asInt()).isEqualTo(status);
    assertThat(r.body()).doesNotContain("Exception", "java.", "springframework", "\tat ");
  }

  @Test
  void frameworkErrorsAreProblemsToo() {
    Project p = newProject();
    assertProblem(get("/v1/no-such-route", p.viewer()), 404, "not-found");
    assertProblem(get("/no-such-page", null), 404, "not-found");
    assertProblem(send("DELETE", "/v1/jobs", p.member(), null), 405, "method-not-allowed");
    assertProblem(
        send("POST", "/v1/jobs", p.member(), "type=distill", "Content-Type", "text/plain"),
        415,
        "unsupported-media-type");
    assertProblem(get("/v1/jobs/not-a-uuid", p.viewer()), 400, "invalid-parameter");
    assertProblem(post("/v1/jobs", p.member(), "[1,2"), 400, "malformed-json");
  }

  @Test
  void oversizedBodiesAre413() {
    Project p = newProject();
    String big = "{\"type\":\"distill\",\"metadata\":{\"pad\":\"" + "x".repeat(70_000) + "\"}}";
    assertProblem(post("/v1/jobs", p.member(), big), 413, "payload-too-large");
  }
}
