package dev.distill.service.web;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/**
 * Paths the router would match after normalising ({@code ;} path parameters, encoded {@code /}, dot
 * segments, NUL, invalid UTF-8, braces) are refused with 400 problem+json before authentication, on
 * every route of the OpenAPI document and for every kind of caller; Tomcat's own refusals are
 * problem+json too. Sent over a raw socket, since {@code java.net.http} would refuse to send some.
 */
class RequestPathTest extends ServiceTest {

  /** Every (method, path) of the API, with path variables filled in. */
  private List<String[]> routes() {
    JsonNode paths = get("/v3/api-docs", null).json().get("paths");
    List<String[]> routes = new ArrayList<>();
    for (String template : paths.propertyNames()) {
      String path = template.replaceAll("\\{[^}]+}", UUID.randomUUID().toString());
      for (String method : paths.get(template).propertyNames()) {
        routes.add(new String[] {method.toUpperCase(java.util.Locale.ROOT), path});
      }
    }
    assertThat(routes).hasSizeGreaterThanOrEqualTo(16);
    return routes;
  }

  /** Spellings of {@code path} that name the same route once decoded or normalised. */
  static List<String> variants(String path) {
    String[] seg = path.substring(1).split("/");
    List<String> v = new ArrayList<>();
    for (int i = 0; i < seg.length; i++) {
      v.add(replaceSegment(seg, i, seg[i] + ";x"));
      v.add(replaceSegment(seg, i, seg[i] + ";a=b"));
    }
    v.add("/" + String.join("%2F", seg));
    v.add("/" + seg[0] + "%2f" + path.substring(seg[0].length() + 2));
    v.add(path + "%00");
    v.add(path + "%E2%82");
    v.add(path.replaceFirst("^/v1/", "/v1/./"));
    v.add(path.replaceFirst("^/v1/", "/v1/x/../"));
    v.add(path.replaceFirst("^/v1/", "/v1/x/..%2f"));
    v.add(path.replaceFirst("^/v1/", "/v1/%2e%2e/v1/"));
    v.add(path.replaceFirst("^/v1/", "/v1//"));
    v.add(path.replaceFirst("^/v1/", "//v1/"));
    v.add(path.replaceFirst("^/v1/", "/%76%31/"));
    v.add(path + "/{x}");
    v.add(path + "/%7Bx%7D");
    v.add(path + "\\..");
    return v;
  }

  private static String replaceSegment(String[] seg, int i, String with) {
    String[] copy = seg.clone();
    copy[i] = with;
    return "/" + String.join("/", copy);
  }

  private static String bodyFor(String path) {
    if (path.startsWith("/v1/tokens")) {
      return "{\"name\":\"sneaky\",\"role\":\"admin\"}";
    }
    if (path.startsWith("/v1/worker")) {
      return "{\"worker_id\":\"w\",\"epoch\":1,\"reason\":\"x\"}";
    }
    return "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\","
        + "\"dataset\":{\"uri\":\"builtin:procedural\"}}";
  }

  @Test
  void everyRouteRefusesAmbiguousPathsBeforeAuthForEveryCaller() throws IOException {
    Project p = newProject();
    List<String[]> routes = routes();
    int sent = 0;
    for (String token : new String[] {null, p.member(), p.viewer(), p.worker()}) {
      for (String[] route : routes) {
        for (String variant : variants(route[1])) {
          Map<String, String> h = new LinkedHashMap<>();
          if (token != null) {
            h.put("Authorization", "Bearer " + token);
          }
          h.put("Content-Type", "application/json");
          String body = route[0].equals("GET") ? null : bodyFor(route[1]);
          RawHttp.Answer a = RawHttp.send(port, route[0], variant, h, body);
          String what = route[0] + " " + variant + " -> " + a.status() + " " + a.body();
          assertThat(a.status()).as(what).isEqualTo(400);
          assertThat(a.contentType()).as(what).startsWith("application/problem+json");
          JsonNode json = JSON.readTree(a.body());
          assertThat(json.get("type").asString())
              .as(what)
              .isIn(
                  ProblemWriter.TYPE_BASE + "invalid-path",
                  ProblemWriter.TYPE_BASE + "invalid-request");
          assertThat(json.get("status").asInt()).isEqualTo(400);
          sent++;
        }
      }
    }
    assertThat(sent).isGreaterThan(500);
    // nothing got through: no token was issued, no job created in the project
    assertThat(
            jdbc.queryForObject(
                "SELECT count(*) FROM api_tokens WHERE name = 'sneaky'", Integer.class))
        .isZero();
    assertThat(
            jdbc.queryForObject(
                "SELECT count(*) FROM jobs WHERE project = ?", Integer.class, p.name()))
        .isZero();
  }

  @Test
  void theReportedBypassesAreRefused() throws IOException {
    Project p = newProject();
    Map<String, String> member =
        Map.of("Authorization", "Bearer " + p.member(), "Content-Type", "application/json");
    RawHttp.Answer token =
        RawHttp.send(port, "POST", "/v1/tokens;x", member, "{\"name\":\"x\",\"role\":\"admin\"}");
    assertThat(token.status()).as(token.body()).isEqualTo(400);
    RawHttp.Answer claim =
        RawHttp.send(port, "POST", "/v1/worker;a=b/claims", member, "{\"worker_id\":\"w\"}");
    assertThat(claim.status()).as(claim.body()).isEqualTo(400);
    RawHttp.Answer anonymous = RawHttp.send(port, "GET", "/v1;x/jobs", Map.of(), null);
    assertThat(anonymous.status()).as(anonymous.body()).isEqualTo(400);
    assertThat(anonymous.contentType()).startsWith("application/problem+json");
    // the plain spellings still work as before
    assertThat(RawHttp.send(port, "GET", "/v1/jobs", member, null).status()).isEqualTo(200);
    assertThat(RawHttp.send(port, "GET", "/v1/jobs", Map.of(), null).status()).isEqualTo(401);
  }

  @Test
  void tomcatsOwnRefusalsAreProblemsNotHtml() throws IOException {
    for (String target : new String[] {"/v1/jobs/{x}", "/v1/jobs?x={y}", "/v1/jo bs", "/%zz"}) {
      RawHttp.Answer a = RawHttp.send(port, "GET", target, Map.of(), null);
      assertThat(a.status()).as(target + " " + a.body()).isEqualTo(400);
      assertThat(a.contentType())
          .as(target + " " + a.body())
          .startsWith("application/problem+json");
      assertThat(a.body()).doesNotContain("<html", "Exception", "java.");
      assertThat(JSON.readTree(a.body()).get("status").asInt()).isEqualTo(400);
    }
  }

  @Test
  void oversizedHeadersAreProblemsNamingTheHeader() throws IOException {
    RawHttp.Answer big =
        RawHttp.send(
            port, "GET", "/v1/jobs", Map.of("Authorization", "Bearer " + "a".repeat(20_000)), null);
    assertThat(big.status()).as(big.body()).isEqualTo(431);
    assertThat(big.contentType()).startsWith("application/problem+json");
    JsonNode json = JSON.readTree(big.body());
    assertThat(json.get("type").asString()).isEqualTo(ProblemWriter.TYPE_BASE + "header-too-large");
    assertThat(json.get("detail").asString()).contains("Authorization");
    // beyond what Tomcat reads at all: its own refusal, in problem+json
    RawHttp.Answer huge =
        RawHttp.send(port, "GET", "/v1/jobs", Map.of("X-Pad", "a".repeat(70_000)), null);
    assertThat(huge.status()).as(huge.body()).isIn(400, 431);
    assertThat(huge.contentType()).as(huge.body()).startsWith("application/problem+json");
    assertThat(JSON.readTree(huge.body()).get("type").asString())
        .isEqualTo(ProblemWriter.TYPE_BASE + "header-too-large");
  }

  @Test
  void plainPathsAndQueriesAreAccepted() {
    assertThat(RequestGuardFilter.plainPath("/v1/jobs/0b6e7d2a-1c7e-4c35-9d1e-5f5a3c1b2d4e"))
        .isTrue();
    assertThat(RequestGuardFilter.plainPath("/")).isTrue();
    assertThat(RequestGuardFilter.plainPath("/swagger-ui/index.html")).isTrue();
    assertThat(RequestGuardFilter.plainPath("/v1/jobs;x")).isFalse();
    assertThat(RequestGuardFilter.plainPath("/v1/../jobs")).isFalse();
    assertThat(RequestGuardFilter.plainQuery("status=queued&limit=5&names=loss%2Cval_loss"))
        .isTrue();
    assertThat(RequestGuardFilter.plainQuery("names=%00")).isFalse();
    assertThat(RequestGuardFilter.plainQuery("names=%E2%82")).isFalse();
    assertThat(RequestGuardFilter.plainQuery("names=%2")).isFalse();
  }
}
