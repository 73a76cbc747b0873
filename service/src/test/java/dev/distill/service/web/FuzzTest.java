package dev.distill.service.web;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * A bounded, deterministic fuzz of every route of the OpenAPI document over loopback: mutated JSON
 * bodies (NUL characters, timestamps PostgreSQL cannot store, coerced and huge numbers, truncation,
 * duplicate keys, garbage), odd content types, odd query strings and header sizes. No answer may be
 * 5xx, and every error body is {@code application/problem+json}.
 */
class FuzzTest extends ServiceTest {

  private static final long SEED = 9_2026L;
  private static final int MUTATIONS_PER_ROUTE = 40;
  private static final JsonNodeFactory F = JsonNodeFactory.instance;

  private final Random random = new Random(SEED);
  private final List<String> failures = new ArrayList<>();
  private int sent;

  /** The route's base body, valid or close to it. */
  private static String baseBody(String template, long epoch) {
    if (template.equals("/v1/tokens")) {
      return "{\"name\":\"fz\",\"role\":\"viewer\",\"ttl\":\"PT1H\"}";
    }
    if (template.equals("/v1/jobs")) {
      return "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":"
          + "\"builtin:procedural\",\"max_seq_len\":64},\"hyperparameters\":{\"max_steps\":5},"
          + "\"requirements\":{\"labels\":{\"pool\":\"a\"}},\"priority\":1,\"metadata\":{\"k\":\"v\"}}";
    }
    if (template.endsWith("/register") || template.endsWith("/claims")) {
      return "{\"worker_id\":\"fz\",\"capabilities\":{\"device\":\"cpu\",\"memory_mb\":1000,"
          + "\"labels\":{\"pool\":\"a\"}},\"wait_seconds\":0}";
    }
    if (template.endsWith("/heartbeat")) {
      return "{\"epoch\":" + epoch + ",\"step\":1}";
    }
    if (template.endsWith("/events")) {
      return "{\"epoch\":"
          + epoch
          + ",\"events\":[{\"seq\":0,\"ts\":\"2026-01-01T00:00:00Z\","
          + "\"level\":\"info\",\"kind\":\"log\",\"message\":\"hi\",\"data\":{\"k\":[\"v\",1]}}]}";
    }
    if (template.endsWith("/metrics")) {
      return "{\"epoch\":"
          + epoch
          + ",\"points\":[{\"step\":1,\"name\":\"loss\",\"value\":1.5,"
          + "\"ts\":\"2026-01-01T00:00:00Z\"}]}";
    }
    if (template.endsWith("/checkpoints")) {
      return "{\"epoch\":"
          + epoch
          + ",\"uri\":\"file:/tmp/fz/step-1\",\"step\":1,\"size_bytes\":1,"
          + "\"sha256\":\""
          + "0".repeat(64)
          + "\",\"metrics\":{\"loss\":1.0},\"final\":false}";
    }
    if (template.endsWith("/fail") || template.endsWith("/release")) {
      return "{\"epoch\":" + epoch + ",\"reason\":\"r\",\"retryable\":true}";
    }
    return "{\"epoch\":" + epoch + "}";
  }

  private String tokenFor(String template, Project p) {
    if (template.startsWith("/v1/tokens")) {
      return p.admin();
    }
    if (template.startsWith("/v1/worker/")) {
      return p.worker();
    }
    return p.member();
  }

  @Test
  void noRouteAnswers5xxAndEveryErrorIsAProblem() throws IOException {
    Project p = newProject();
    String job = createJob(p.member(), minimal("finetune", 0));
    createJob(p.member(), minimal("finetune", 0));
    Lease lease = claim(p.worker(), "fz-claimer");
    JsonNode paths = get("/v3/api-docs", null).json().get("paths");
    int routes = 0;
    for (String template : paths.propertyNames()) {
      for (String m : paths.get(template).propertyNames()) {
        String method = m.toUpperCase(java.util.Locale.ROOT);
        String path =
            template
                .replace(
                    "{id}", template.startsWith("/v1/tokens") ? UUID.randomUUID().toString() : job)
                .replace("{lease_id}", lease.leaseId());
        String token = tokenFor(template, p);
        routes++;
        if (method.equals("GET") || method.equals("DELETE")) {
          fuzzQuery(method, path, token);
        } else {
          fuzzBody(method, path, token, baseBody(template, lease.epoch()));
        }
        fuzzHeaders(method, path, token);
      }
    }
    assertThat(routes).isGreaterThanOrEqualTo(16);
    assertThat(sent).isGreaterThan(routes * MUTATIONS_PER_ROUTE);
    assertThat(failures).as("of %d requests", sent).isEmpty();
  }

  /** The inputs that gave 500 before: each a 422 problem naming the field. */
  @Test
  void nulAndUnstorableTimestampsAre422NamingTheField() {
    Project p = newProject();
    createJob(p.member(), minimal("finetune", 0));
    Lease l = claim(p.worker(), "fz-named");
    String[][] cases = {
      {
        "/v1/jobs",
        p.member(),
        "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\","
            + "\"dataset\":{\"uri\":\"builtin:procedural\"},\"metadata\":{\"k\":\"a\\u0000\"}}",
        "metadata"
      },
      {
        "/v1/jobs",
        p.member(),
        "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\","
            + "\"dataset\":{\"uri\":\"builtin:procedural\"},"
            + "\"requirements\":{\"labels\":{\"a\":\"\\u0000\"}}}",
        "requirements.labels"
      },
      {
        "/v1/jobs",
        p.member(),
        "{\"type\":\"finetune\",\"student\":\"file:/tmp/a\\u0000\","
            + "\"dataset\":{\"uri\":\"builtin:procedural\"}}",
        "student.uri"
      },
      {
        "/v1/worker/claims",
        p.worker(),
        "{\"worker_id\":\"w\",\"capabilities\":" + "{\"labels\":{\"a\":\"\\u0000\"}}}",
        "capabilities.labels"
      },
      {
        l.path("fail"),
        p.worker(),
        "{\"epoch\":" + l.epoch() + ",\"reason\":\"x\\u0000\"}",
        "reason"
      },
      {
        l.path("release"),
        p.worker(),
        "{\"epoch\":" + l.epoch() + ",\"reason\":\"x\\u0000\"}",
        "reason"
      },
      {
        l.path("events"),
        p.worker(),
        "{\"epoch\":" + l.epoch() + ",\"events\":[{\"seq\":0,\"message\":\"a\\u0000\"}]}",
        "events[0].message"
      },
      {
        l.path("events"),
        p.worker(),
        "{\"epoch\":" + l.epoch() + ",\"events\":[{\"seq\":0,\"ts\":\"+300000-01-01T00:00:00Z\"}]}",
        "events[0].ts"
      },
      {
        l.path("metrics"),
        p.worker(),
        "{\"epoch\":"
            + l.epoch()
            + ",\"points\":[{\"step\":1,\"name\":\"loss\",\"value\":1,"
            + "\"ts\":\"+300000-01-01T00:00:00Z\"}]}",
        "points[0].ts"
      },
      {
        l.path("checkpoints"),
        p.worker(),
        "{\"epoch\":"
            + l.epoch()
            + ",\"uri\":\"file:/tmp/\\u0000\",\"step\":1,\"size_bytes\":1,\"sha256\":\""
            + "0".repeat(64)
            + "\"}",
        "uri"
      },
    };
    for (String[] c : cases) {
      Resp r = post(c[0], c[1], c[2]);
      assertThat(r.status()).as(c[0] + " " + r.body()).isEqualTo(422);
      assertThat(r.header("Content-Type")).startsWith("application/problem+json");
      assertThat(r.json().get("errors").get(0).get("field").asString())
          .as(r.body())
          .isEqualTo(c[3]);
    }
    // the lease is untouched by all that: it still completes
    assertThat(post(l.path("complete"), p.worker(), "{\"epoch\":" + l.epoch() + "}").status())
        .isEqualTo(204);
  }

  private void check(String what, int status, String contentType, String body) {
    sent++;
    if (status >= 500) {
      failures.add(what + " -> " + status + " " + abbreviate(body));
    } else if (status >= 400 && !contentType.startsWith("application/problem+json")) {
      failures.add(what + " -> " + status + " " + contentType + " " + abbreviate(body));
    }
  }

  private static String abbreviate(String s) {
    return s.length() > 300 ? s.substring(0, 300) + "..." : s;
  }

  private void http(String method, String path, String token, String body, String... headers) {
    Resp r = send(method, path, token, body, headers);
    check(
        method + " " + path + " " + List.of(headers) + " " + abbreviate(String.valueOf(body)),
        r.status(),
        r.header("Content-Type") == null ? "" : r.header("Content-Type"),
        r.body());
  }

  private void raw(String method, String target, Map<String, String> headers, String body)
      throws IOException {
    RawHttp.Answer a = RawHttp.send(port, method, target, headers, body);
    check(
        "raw "
            + method
            + " "
            + target
            + " "
            + headers.keySet()
            + " "
            + abbreviate(String.valueOf(body)),
        a.status(),
        a.contentType(),
        a.body());
  }

  private void fuzzBody(String method, String path, String token, String base) throws IOException {
    for (int i = 0; i < MUTATIONS_PER_ROUTE; i++) {
      http(method, path, token, mutate(base));
    }
    for (String type :
        new String[] {
          "*/*",
          "text/plain",
          "application/octet-stream",
          "application/json; charset=latin1",
          "application/json;;",
          "application/x-www-form-urlencoded",
          "multipart/form-data",
          "application/problem+json",
          "application/json; charset=nope-" + random.nextInt(99)
        }) {
      http(method, path, token, base, "Content-Type", type);
    }
    Map<String, String> noType = new LinkedHashMap<>();
    noType.put("Authorization", "Bearer " + token);
    raw(method, path, noType, base);
    Map<String, String> garbageType = new LinkedHashMap<>(noType);
    garbageType.put("Content-Type", "\u0001/\u0002");
    raw(method, path, garbageType, base);
  }

  private void fuzzQuery(String method, String path, String token) throws IOException {
    String[] queries = {
      "limit=1e30",
      "limit=-1",
      "limit=99999999999",
      "limit=%00",
      "after=%00",
      "after=x",
      "after=" + UUID.randomUUID(),
      "status=%E2%82",
      "status=queued%00",
      "type=%00",
      "names=loss%00",
      "names=%E2%82",
      "after_step=1e30",
      "after_step=-99999999999999999999",
      "names=" + "a,".repeat(2000),
      "%zz=1",
      "limit=1&limit=2",
      "status=",
      "a=%F0%9F%98%80"
    };
    String[] accepts = {null, "text/event-stream", "application/xml", "*/*", "text/html"};
    for (String q : queries) {
      Map<String, String> h = new LinkedHashMap<>();
      h.put("Authorization", "Bearer " + token);
      String accept = accepts[random.nextInt(accepts.length)];
      if (accept != null) {
        h.put("Accept", accept);
      }
      raw(method, path + "?" + q, h, null);
    }
    for (String accept : accepts) {
      Map<String, String> h = new LinkedHashMap<>();
      h.put("Authorization", "Bearer " + (accept == null ? "not-a-token" : token));
      if (accept != null) {
        h.put("Accept", accept);
      }
      raw(method, path + "?limit=x", h, null);
    }
    for (int i = 0; i < MUTATIONS_PER_ROUTE; i++) {
      Map<String, String> h = new LinkedHashMap<>();
      h.put("Authorization", "Bearer " + token);
      raw(
          method,
          path + "?limit=" + randomScalar().replace("\"", "%22").replace(" ", "%20"),
          h,
          null);
    }
  }

  private void fuzzHeaders(String method, String path, String token) throws IOException {
    Map<String, String> big = new LinkedHashMap<>();
    big.put("Authorization", "Bearer " + "a".repeat(20_000));
    raw(method, path, big, null);
    Map<String, String> idem = new LinkedHashMap<>();
    idem.put("Authorization", "Bearer " + token);
    idem.put("Idempotency-Key", "\u00ff\u00fe" + "k".repeat(random.nextInt(400)));
    raw(method, path, idem, null);
    for (String suffix : new String[] {"%00", "%E2%82", "..%2f", "/{x}", ";x"}) {
      raw(method, path + suffix, idem, null);
    }
  }

  private String randomScalar() {
    String[] values = {
      "\"300\"",
      "300.7",
      "1e30",
      "-1e30",
      "10000000000",
      "true",
      "null",
      "[]",
      "{}",
      "\"\"",
      "\"+300000-01-01T00:00:00Z\"",
      "\"-5000-01-01T00:00:00Z\"",
      "\"a\\u0000b\"",
      "\"\\u0000\"",
      "1e400",
      "-0",
      "\"x\"",
      "[\"\\u0000\"]",
      "{\"\\u0000\":1}",
      "9223372036854775808",
      "\"" + "x".repeat(5000) + "\"",
      "\"\\ud800\""
    };
    return values[random.nextInt(values.length)];
  }

  /** One random mutation of a JSON text. */
  private String mutate(String base) {
    int kind = random.nextInt(8);
    switch (kind) {
      case 0 -> {
        return base.substring(0, random.nextInt(base.length()));
      }
      case 1 -> {
        int brace = base.indexOf('{', 1);
        int at = brace < 0 ? 1 : brace + 1;
        String key = randomKey(JSON.readTree(base));
        return base.substring(0, 1)
            + "\""
            + key
            + "\":1,"
            + base.substring(1, at)
            + base.substring(at);
      }
      case 2 -> {
        byte[] b = new byte[1 + random.nextInt(40)];
        random.nextBytes(b);
        return new String(b, java.nio.charset.StandardCharsets.ISO_8859_1);
      }
      case 3 -> {
        return base.replaceFirst(
            "\\}$", ",\"unknown_" + random.nextInt(9) + "\":" + randomScalar() + "}");
      }
      default -> {
        JsonNode tree = JSON.readTree(base);
        List<JsonNode[]> leaves = new ArrayList<>();
        collect(tree, leaves);
        JsonNode[] pick = leaves.get(random.nextInt(leaves.size()));
        JsonNode replacement = JSON.readTree(randomScalar());
        if (pick[0] instanceof ObjectNode o) {
          o.set(pick[1].asString(), replacement);
        } else if (pick[0] instanceof ArrayNode a) {
          a.set(pick[1].asInt(), replacement);
        }
        return JSON.writeValueAsString(tree);
      }
    }
  }

  private String randomKey(JsonNode tree) {
    List<String> keys = new ArrayList<>(tree.propertyNames());
    return keys.isEmpty() ? "x" : keys.get(random.nextInt(keys.size()));
  }

  /** Every (container, key-or-index) of the tree, containers included, so whole objects change. */
  private static void collect(JsonNode node, List<JsonNode[]> out) {
    if (node instanceof ObjectNode o) {
      for (String k : o.propertyNames()) {
        out.add(new JsonNode[] {o, F.stringNode(k)});
        collect(o.get(k), out);
      }
    } else if (node instanceof ArrayNode a) {
      for (int i = 0; i < a.size(); i++) {
        out.add(new JsonNode[] {a, F.numberNode(i)});
        collect(a.get(i), out);
      }
    }
  }
}
