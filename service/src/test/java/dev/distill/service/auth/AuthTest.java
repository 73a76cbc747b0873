package dev.distill.service.auth;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Tokens, roles and project isolation. */
class AuthTest extends ServiceTest {

  @Test
  void missingOrWrongTokensAre401Problems() {
    for (String token : new String[] {null, "nope-not-a-token"}) {
      Resp r = get("/v1/jobs", token);
      assertThat(r.status()).isEqualTo(401);
      assertThat(r.header("Content-Type")).startsWith("application/problem+json");
      assertThat(r.header("WWW-Authenticate")).startsWith("Bearer");
      assertThat(r.json().get("type").asString()).endsWith("/unauthorized");
    }
  }

  @Test
  void tokensAreStoredOnlyAsHashes() {
    Resp r =
        post("/v1/tokens", ADMIN, Map.of("name", "ci", "role", "viewer", "project", "default"));
    assertThat(r.status()).isEqualTo(201);
    String token = r.json().get("token").asString();
    assertThat(
            jdbc.queryForObject(
                "SELECT count(*) FROM api_tokens WHERE token_hash = ?", Integer.class, token))
        .isZero();
    assertThat(
            jdbc.queryForObject(
                "SELECT count(*) FROM api_tokens WHERE token_hash = ?",
                Integer.class,
                TokenService.hash(token)))
        .isEqualTo(1);
    assertThat(get("/v1/jobs", token).status()).isEqualTo(200);
  }

  @Test
  void rolesLimitWhatATokenMayDo() {
    Project p = newProject();
    String body = minimal("distill", 0);
    assertThat(post("/v1/jobs", p.viewer(), body).status()).isEqualTo(403);
    assertThat(post("/v1/jobs", p.worker(), body).status()).isEqualTo(403);
    assertThat(get("/v1/jobs", p.worker()).status()).isEqualTo(403);
    Resp userOnWorkerApi = post("/v1/worker/claims", p.member(), claimBody("x", 0));
    assertThat(userOnWorkerApi.status()).isEqualTo(403);
    assertThat(userOnWorkerApi.json().get("type").asString()).endsWith("/forbidden");
    assertThat(post("/v1/worker/claims", p.admin(), claimBody("x", 0)).status()).isEqualTo(403);
    Map<String, String> tokenReq = Map.of("name", "x", "role", "admin");
    assertThat(post("/v1/tokens", p.member(), tokenReq).status()).isEqualTo(403);
    assertThat(post("/v1/tokens", p.worker(), tokenReq).status()).isEqualTo(403);
    Resp bad = post("/v1/tokens", p.admin(), Map.of("name", "x", "role", "root"));
    assertThat(bad.status()).isEqualTo(422);
    assertThat(bad.json().get("errors").get(0).get("field").asString()).isEqualTo("role");
    Resp own = post("/v1/tokens", p.admin(), Map.of("name", "y", "role", "viewer"));
    assertThat(own.json().get("project").asString()).isEqualTo(p.name());
    assertThat(post("/v1/jobs", p.member(), body).status()).isEqualTo(201);
  }

  @Test
  void anotherProjectsJobIsInvisible() {
    Project a = newProject();
    Project b = newProject();
    String id = createJob(a.member(), minimal("distill", 0));
    assertThat(get("/v1/jobs/" + id, b.admin()).status()).isEqualTo(404);
    assertThat(get("/v1/jobs/" + id + "/events", b.admin()).status()).isEqualTo(404);
    assertThat(post("/v1/jobs/" + id + "/cancel", b.admin(), "").status()).isEqualTo(404);
    assertThat(get("/v1/jobs", b.viewer()).json().get("items")).isEmpty();
    assertThat(get("/v1/jobs?after=" + id, b.viewer()).status()).isEqualTo(404);
    // b's worker cannot claim a's job; a's can
    assertThat(post("/v1/worker/claims", b.worker(), claimBody("wb", 0)).status()).isEqualTo(204);
    Lease l = claim(a.worker(), "wa");
    assertThat(l.jobId()).isEqualTo(id);
    // nor write under a's lease
    assertThat(post(l.path("heartbeat"), b.worker(), Map.of("epoch", l.epoch())).status())
        .isEqualTo(409);
    assertThat(get("/v1/workers", b.viewer()).json().get("items")).hasSize(1);
  }
}
