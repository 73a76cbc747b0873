package dev.distill.service.web;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import org.junit.jupiter.api.Test;

/**
 * Syntax first (any body that is not JSON is 400, wherever the error sits), then fields (valid JSON
 * with a wrong value is 422 naming the field): no coercion, no duplicate keys, and odd content
 * types are 4xx problems.
 */
class JsonInputTest extends ServiceTest {

  private static final String BASE =
      "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\","
          + "\"dataset\":{\"uri\":\"builtin:procedural\"}";

  private void assertProblem(Resp r, int status, String type) {
    assertThat(r.status()).as(r.body()).isEqualTo(status);
    assertThat(r.header("Content-Type")).startsWith("application/problem+json");
    assertThat(r.json().get("type").asString()).isEqualTo(ProblemWriter.TYPE_BASE + type);
    assertThat(r.body()).doesNotContain("Exception", "java.", "tools.jackson");
  }

  private void assertField(Resp r, int status, String field) {
    assertProblem(r, status, status == 422 ? "validation-error" : "malformed-json");
    assertThat(r.json().get("errors").get(0).get("field").asString()).as(r.body()).isEqualTo(field);
  }

  @Test
  void invalidJsonIs400WhereverTheErrorSits() {
    Project p = newProject();
    assertProblem(post("/v1/jobs", p.member(), "{\"type\": 42"), 400, "malformed-json");
    assertProblem(post("/v1/jobs", null, "{\"type\": 42"), 401, "unauthorized");
    assertProblem(
        post("/v1/jobs", p.member(), BASE + ",\"priority\": \"x\""), 400, "malformed-json");
    assertProblem(post("/v1/jobs", p.member(), BASE + "} trailing"), 400, "malformed-json");
    assertProblem(
        post("/v1/worker/claims", p.worker(), "{\"worker_id\": 7, \"wait_seconds\": "),
        400,
        "malformed-json");
  }

  @Test
  void duplicateKeysAreRefusedNamingTheKey() {
    Project p = newProject();
    assertField(post("/v1/jobs", p.member(), BASE + ",\"type\":\"distill\"}"), 400, "type");
    assertField(
        post("/v1/jobs", p.member(), BASE + ",\"hyperparameters\":{\"seed\":1,\"seed\":2}}"),
        400,
        "seed");
    assertField(
        post("/v1/tokens", p.admin(), "{\"name\":\"a\",\"role\":\"viewer\",\"role\":\"admin\"}"),
        400,
        "role");
  }

  @Test
  void outOfRangeAndCoercedNumbersAre422NamingTheField() {
    Project p = newProject();
    assertField(post("/v1/jobs", p.member(), BASE + ",\"priority\":1e30}"), 422, "priority");
    assertField(post("/v1/jobs", p.member(), BASE + ",\"priority\":10000000000}"), 422, "priority");
    assertField(
        post("/v1/jobs", p.member(), BASE + ",\"hyperparameters\":{\"max_steps\":\"300\"}}"),
        422,
        "hyperparameters.max_steps");
    assertField(
        post("/v1/jobs", p.member(), BASE + ",\"hyperparameters\":{\"max_steps\":300.7}}"),
        422,
        "hyperparameters.max_steps");
    assertField(
        post("/v1/jobs", p.member(), BASE + ",\"hyperparameters\":{\"seed\":1e300}}"),
        422,
        "hyperparameters.seed");
    assertField(post("/v1/jobs", p.member(), BASE + ",\"metadata\":{\"n\":5}}"), 422, "metadata.n");
    assertField(
        post("/v1/worker/claims", p.worker(), "{\"worker_id\":\"w\",\"wait_seconds\":\"5\"}"),
        422,
        "wait_seconds");
    assertField(
        post("/v1/worker/claims", p.worker(), "{\"worker_id\":\"w\",\"wait_seconds\":0.5}"),
        422,
        "wait_seconds");
    assertField(
        post("/v1/worker/claims", p.worker(), "{\"worker_id\":\"w\",\"wait_seconds\":1e30}"),
        422,
        "wait_seconds");
    // and nothing of that was stored
    assertThat(get("/v1/jobs", p.viewer()).json().get("items")).isEmpty();
  }

  @Test
  void oddContentTypesAre4xxProblems() {
    Project p = newProject();
    String tokenBody = "{\"name\":\"ct\",\"role\":\"viewer\"}";
    for (String type :
        new String[] {
          "*/*", "text/plain", "application/x-www-form-urlencoded", "application/*", "nonsense"
        }) {
      for (String[] route :
          new String[][] {
            {"/v1/tokens", p.admin(), tokenBody},
            {"/v1/jobs", p.member(), BASE + "}"},
            {"/v1/worker/claims", p.worker(), "{\"worker_id\":\"w\"}"}
          }) {
        Resp r = send("POST", route[0], route[1], route[2], "Content-Type", type);
        assertThat(r.status()).as(type + " " + route[0] + " " + r.body()).isBetween(400, 415);
        assertThat(r.header("Content-Type")).as(type).startsWith("application/problem+json");
      }
    }
    assertProblem(
        send("POST", "/v1/tokens", p.admin(), tokenBody, "Content-Type", "*/*"),
        415,
        "unsupported-media-type");
  }
}
