package dev.distill.service.auth;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import org.junit.jupiter.api.Test;

/** {@code GET /v1/whoami}: the token's project and role, for the console; never the secret. */
class WhoAmITest extends ServiceTest {

  @Test
  void answersTheProjectTheRoleAndWhetherTheRoleMayWriteJobs() {
    Project p = newProject();
    String[][] cases = {
      {p.admin(), "admin", "true"}, {p.member(), "member", "true"}, {p.viewer(), "viewer", "false"}
    };
    for (String[] c : cases) {
      Resp r = get("/v1/whoami", c[0]);
      assertThat(r.status()).as(c[1]).isEqualTo(200);
      assertThat(r.json().get("project").asString()).isEqualTo(p.name());
      assertThat(r.json().get("role").asString()).isEqualTo(c[1]);
      assertThat(r.json().get("token_name").asString()).startsWith(c[1] + "-");
      assertThat(r.json().get("can_write_jobs").asBoolean()).isEqualTo(Boolean.parseBoolean(c[2]));
      assertThat(r.body()).doesNotContain(c[0]).doesNotContain(TokenService.hash(c[0]));
    }
  }

  @Test
  void workerAndUnknownTokensAreRefused() {
    Project p = newProject();
    Resp worker = get("/v1/whoami", p.worker());
    assertThat(worker.status()).isEqualTo(403);
    assertThat(worker.json().get("type").asString()).endsWith("/forbidden");
    Resp unknown = get("/v1/whoami", "dst_not-a-token-at-all");
    assertThat(unknown.status()).isEqualTo(401);
    assertThat(unknown.json().get("type").asString()).endsWith("/unauthorized");
    assertThat(get("/v1/whoami", null).status()).isEqualTo(401);
  }
}
