package dev.distill.service.auth;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.time.Instant;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/** Issuing only within the caller's project; listing, revoking and expiring tokens. */
class TokenLifecycleTest extends ServiceTest {

  @Test
  void anAdminIssuesTokensOnlyForItsOwnProject() {
    Project a = newProject();
    Project b = newProject();
    for (String role : new String[] {"admin", "member", "worker"}) {
      Resp r =
          post("/v1/tokens", a.admin(), Map.of("name", "x", "role", role, "project", b.name()));
      assertThat(r.status()).as(r.body()).isEqualTo(403);
      assertThat(r.header("Content-Type")).startsWith("application/problem+json");
      assertThat(r.json().get("errors").get(0).get("field").asString()).isEqualTo("project");
    }
    // the bootstrap admin of 'default' is no operator either
    assertThat(
            post("/v1/tokens", ADMIN, Map.of("name", "x", "role", "admin", "project", b.name()))
                .status())
        .isEqualTo(403);
    assertThat(
            jdbc.queryForObject(
                "SELECT count(*) FROM api_tokens WHERE project = ? AND name = 'x'",
                Integer.class,
                b.name()))
        .isZero();
    Resp own =
        post("/v1/tokens", a.admin(), Map.of("name", "own", "role", "viewer", "project", a.name()));
    assertThat(own.status()).as(own.body()).isEqualTo(201);
    assertThat(own.json().get("project").asString()).isEqualTo(a.name());
  }

  @Test
  void tokensAreListedWithoutSecretsAndRevokedTokensAreRefused() {
    Project p = newProject();
    Resp issued = post("/v1/tokens", p.admin(), Map.of("name", "ci-bot", "role", "member"));
    assertThat(issued.status()).as(issued.body()).isEqualTo(201);
    String secret = issued.json().get("token").asString();
    String id = issued.json().get("id").asString();
    assertThat(get("/v1/jobs", secret).status()).isEqualTo(200);

    Resp list = get("/v1/tokens", p.admin());
    assertThat(list.status()).as(list.body()).isEqualTo(200);
    assertThat(list.body())
        .doesNotContain(secret, TokenService.hash(secret), "token_hash", "\"token\"");
    JsonNode mine = null;
    for (JsonNode t : list.json().get("items")) {
      assertThat(t.get("project").asString()).isEqualTo(p.name());
      if (t.get("id").asString().equals(id)) {
        mine = t;
      }
    }
    assertThat(mine).as(list.body()).isNotNull();
    assertThat(mine.get("name").asString()).isEqualTo("ci-bot");
    assertThat(mine.get("role").asString()).isEqualTo("member");
    assertThat(mine.get("created_at").asString()).isNotEmpty();
    assertThat(mine.get("last_used_at").asString()).isNotEmpty(); // used by GET /v1/jobs above
    assertThat(mine.get("expires_at").isNull()).isTrue();
    assertThat(list.json().get("items")).hasSize(5); // newProject's four, and this one

    // another project neither sees nor revokes it; members cannot list or revoke
    Project other = newProject();
    assertThat(get("/v1/tokens", other.admin()).body()).doesNotContain(id);
    assertThat(send("DELETE", "/v1/tokens/" + id, other.admin(), null).status()).isEqualTo(404);
    assertThat(get("/v1/tokens", p.member()).status()).isEqualTo(403);
    assertThat(send("DELETE", "/v1/tokens/" + id, p.member(), null).status()).isEqualTo(403);
    assertThat(get("/v1/jobs", secret).status()).isEqualTo(200);

    assertThat(send("DELETE", "/v1/tokens/" + id, p.admin(), null).status()).isEqualTo(204);
    Resp refused = get("/v1/jobs", secret);
    assertThat(refused.status()).isEqualTo(401);
    assertThat(refused.json().get("type").asString()).endsWith("/unauthorized");
    assertThat(send("DELETE", "/v1/tokens/" + id, p.admin(), null).status()).isEqualTo(404);
    assertThat(send("DELETE", "/v1/tokens/" + UUID.randomUUID(), p.admin(), null).status())
        .isEqualTo(404);
  }

  @Test
  void tokensExpire() {
    Project p = newProject();
    Resp ttl =
        post("/v1/tokens", p.admin(), Map.of("name", "short", "role", "viewer", "ttl", "PT1H"));
    assertThat(ttl.status()).as(ttl.body()).isEqualTo(201);
    Instant expires = Instant.parse(ttl.json().get("expires_at").asString());
    assertThat(expires).isBetween(Instant.now().plusSeconds(3500), Instant.now().plusSeconds(3700));
    String secret = ttl.json().get("token").asString();
    assertThat(get("/v1/jobs", secret).status()).isEqualTo(200);
    // let it run out (set in the database, so that the test needs no clock)
    jdbc.update(
        "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = ?",
        UUID.fromString(ttl.json().get("id").asString()));
    assertThat(get("/v1/jobs", secret).status()).isEqualTo(401);

    String at = Instant.now().plusSeconds(86_400).toString();
    Resp abs =
        post("/v1/tokens", p.admin(), Map.of("name", "dated", "role", "viewer", "expires_at", at));
    assertThat(abs.status()).as(abs.body()).isEqualTo(201);
    assertThat(Instant.parse(abs.json().get("expires_at").asString()))
        .isEqualTo(Instant.parse(at).truncatedTo(java.time.temporal.ChronoUnit.MICROS));

    for (Map<String, String> bad :
        new Map[] {
          Map.of("name", "b", "role", "viewer", "ttl", "tomorrow"),
          Map.of("name", "b", "role", "viewer", "ttl", "PT1S"),
          Map.of("name", "b", "role", "viewer", "ttl", "PT1H", "expires_at", at),
          Map.of("name", "b", "role", "viewer", "expires_at", "2001-01-01T00:00:00Z"),
          Map.of("name", "b", "role", "viewer", "expires_at", "+300000-01-01T00:00:00Z")
        }) {
      Resp r = post("/v1/tokens", p.admin(), bad);
      assertThat(r.status()).as(bad + " " + r.body()).isEqualTo(422);
      assertThat(r.json().get("errors").get(0).get("field").asString()).isIn("ttl", "expires_at");
    }
  }
}
