package dev.distill.service.job;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import org.junit.jupiter.api.Test;

/**
 * {@code openai:} references must name an endpoint of the allow-list ({@code distill.endpoints},
 * here {@code judge=http://127.0.0.1:18000/v1} and {@code teacher=https://LLM.example.com/v1/}),
 * compared in canonical form: no other host, port or path, and no spelling trick reaches another.
 * The claim tells the worker each endpoint's name, by which it finds the key.
 */
class EndpointRefPolicyTest extends ServiceTest {

  private static String evaluate(String judgeUrl) {
    return """
        {"type": "evaluate", "student": "builtin:gemma2-tiny",
         "dataset": {"uri": "builtin:procedural", "num_examples": 20},
         "judge": {"model": {"uri": "openai:%s", "model": "judge-model"}}}
        """
        .formatted(judgeUrl);
  }

  private static String synthesize(String teacherUrl) {
    return """
        {"type": "synthesize", "teacher": {"uri": "openai:%s", "model": "big"}}
        """
        .formatted(teacherUrl);
  }

  @Test
  void anAllowListedEndpointIsAcceptedInAnySpellingOfItsBaseUrl() {
    Project p = newProject();
    for (String url :
        new String[] {
          "http://127.0.0.1:18000/v1", "http://127.0.0.1:18000/v1/", "HTTP://127.0.0.1:18000/v1"
        }) {
      Resp r = post("/v1/jobs", p.member(), evaluate(url));
      assertThat(r.status()).as(url + ": " + r.body()).isEqualTo(201);
    }
    Resp s = post("/v1/jobs", p.member(), synthesize("https://llm.example.com:443/v1"));
    assertThat(s.status()).as(s.body()).isEqualTo(201);
  }

  @Test
  void anyOtherHostPortOrPathIsRefusedNamingTheField() {
    Project p = newProject();
    for (String url :
        new String[] {
          "http://127.0.0.1:18001/v1", // another port
          "http://localhost:18000/v1", // another spelling of the host is another host
          "http://127.0.0.1:18000/v2", // another path
          "http://127.0.0.1:18000/v1/admin",
          "http://127.0.0.1:18000@169.254.169.254/v1", // userinfo: really 169.254.169.254
          "http://169.254.169.254/latest/meta-data",
          "https://127.0.0.1:18000/v1" // another scheme
        }) {
      Resp r = post("/v1/jobs", p.member(), evaluate(url));
      assertThat(r.status()).as(url + ": " + r.body()).isEqualTo(422);
      assertThat(r.raw().headers().firstValue("Content-Type").orElse(""))
          .contains("application/problem+json");
      assertThat(r.json().get("errors").get(0).get("field").asString())
          .isEqualTo("judge.model.uri");
      // the refusal names the allow-list's endpoints, not their addresses
      assertThat(r.body()).doesNotContain("llm.example.com");
    }
    Resp s = post("/v1/jobs", p.member(), synthesize("http://10.0.0.1:8000/v1"));
    assertThat(s.status()).as(s.body()).isEqualTo(422);
    assertThat(s.json().get("errors").get(0).get("field").asString()).isEqualTo("teacher.uri");
  }

  @Test
  void anEndpointWhereAJobNeedsWeightsIsRefusedNamingTheField() {
    Project p = newProject();
    Resp r =
        post(
            "/v1/jobs",
            p.member(),
            """
            {"type": "finetune",
             "student": {"uri": "openai:http://127.0.0.1:18000/v1", "model": "m"},
             "dataset": {"uri": "builtin:procedural"}}
            """);
    assertThat(r.status()).as(r.body()).isEqualTo(422);
    assertThat(r.json().get("errors").get(0).get("field").asString()).isEqualTo("student.uri");
  }

  @Test
  void theClaimNamesTheEndpointForTheWorkersKey() {
    Project p = newProject();
    String id = createJob(p.member(), evaluate("http://127.0.0.1:18000/v1/"));
    Lease lease = claim(p.worker(), "w-endpoints");
    assertThat(lease.jobId()).isEqualTo(id);
    assertThat(lease.body().get("endpoints").get("http://127.0.0.1:18000/v1").asString())
        .isEqualTo("judge");
  }
}
