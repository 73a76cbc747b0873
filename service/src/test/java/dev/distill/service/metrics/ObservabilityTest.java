package dev.distill.service.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;

/** Prometheus metrics (names linted by promtool), health groups, OpenAPI and Swagger UI. */
class ObservabilityTest extends ServiceTest {

  @Autowired QueueMetrics metrics;

  @Test
  void queueMetricsAreExposedWithPrometheusNames() throws Exception {
    Project p = newProject();
    createJob(p.member(), minimal("distill", 0));
    claim(p.worker(), "m");
    String queued = createJob(p.member(), minimal("distill", 0));
    // per-job requests, so that a uri label with the id itself would show below
    assertThat(get("/v1/jobs/" + queued, p.member()).status()).isEqualTo(200);
    assertThat(get("/v1/jobs/" + queued + "/events", p.member()).status()).isEqualTo(200);
    metrics.refresh();
    Resp r = get("/actuator/prometheus", null);
    assertThat(r.status()).isEqualTo(200);
    String text = r.body();
    assertThat(text)
        .contains("distill_jobs{status=\"queued\"}")
        .contains("distill_jobs{status=\"running\"}")
        .contains("distill_claims_total{outcome=\"claimed\"}")
        .contains("distill_claim_latency_seconds_bucket")
        .contains("distill_queue_wait_seconds_bucket")
        .contains("distill_lease_expirations_total")
        .contains("distill_stale_epoch_rejections_total")
        .contains("distill_active_workers")
        .contains("distill_oldest_queued_job_age_seconds")
        // every legal transition from the start, so that a dashboard's requeue panel shows 0
        .contains("distill_job_transitions_total{from=\"running\",to=\"queued\"}")
        .contains("distill_job_transitions_total{from=\"cancelling\",to=\"failed\"}")
        .doesNotContain("distill_job_transitions_total{from=\"succeeded\"");
    assertThat(value(text, "distill_active_workers")).isGreaterThanOrEqualTo(1);
    assertThat(value(text, "distill_jobs{status=\"queued\"}")).isGreaterThanOrEqualTo(1);

    assertThat(unboundedLabels(text)).as("series with an unbounded label").isEmpty();
    assertThat(text).doesNotContain(queued);

    // promtool lints our families (Micrometer's own JVM meters are not ours to rename)
    String ours =
        text.lines()
            .filter(l -> l.startsWith("distill_") || l.matches("# (HELP|TYPE) distill_.*"))
            .collect(Collectors.joining("\n", "", "\n"));
    Path promtool = Path.of("/usr/bin/promtool");
    assertThat(Files.isExecutable(promtool))
        .as("promtool is required (Debian package prometheus; .ci/run installs it)")
        .isTrue();
    Process proc =
        new ProcessBuilder(promtool.toString(), "check", "metrics")
            .redirectErrorStream(true)
            .start();
    proc.getOutputStream().write(ours.getBytes(StandardCharsets.UTF_8));
    proc.getOutputStream().close();
    String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(proc.waitFor()).as(out).isZero();
  }

  /** A transition applied by JobTransitions counts once, after its transaction committed. */
  @Test
  void anAppliedTransitionCountsOnce() {
    Project p = newProject();
    String id = createJob(p.member(), minimal("distill", 0));
    String series = "distill_job_transitions_total{from=\"queued\",to=\"cancelled\"}";
    double before = value(get("/actuator/prometheus", null).body(), series);
    assertThat(post("/v1/jobs/" + id + "/cancel", p.member(), "{}").status()).isEqualTo(200);
    assertThat(value(get("/actuator/prometheus", null).body(), series)).isEqualTo(before + 1);
  }

  private static final java.util.regex.Pattern LABEL =
      java.util.regex.Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");
  private static final java.util.regex.Pattern UUID_LIKE =
      java.util.regex.Pattern.compile(
          "(?i).*[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}.*");

  /**
   * Sample lines with a label named job_id or job, or with a UUID-looking value: one series per job
   * would grow without bound (per-job data is in the database and the metrics API). The same check
   * runs on the worker's /metrics (app's WorkerMetricsTest).
   */
  static java.util.List<String> unboundedLabels(String scrape) {
    return scrape
        .lines()
        .filter(l -> !l.startsWith("#") && l.contains("{"))
        .filter(
            l -> {
              var m = LABEL.matcher(l.substring(l.indexOf('{'), l.lastIndexOf('}') + 1));
              while (m.find()) {
                String name = m.group(1);
                if (name.equals("job_id")
                    || name.equals("job")
                    || UUID_LIKE.matcher(m.group(2)).matches()) {
                  return true;
                }
              }
              return false;
            })
        .toList();
  }

  private static double value(String text, String series) {
    return text.lines()
        .filter(l -> l.startsWith(series + " "))
        .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no series " + series));
  }

  @Test
  void livenessAndReadinessIncludingTheDatabase() throws IOException {
    Resp live = get("/actuator/health/liveness", null);
    assertThat(live.status()).isEqualTo(200);
    assertThat(live.json().get("status").asString()).isEqualTo("UP");
    Resp ready = get("/actuator/health/readiness", null);
    assertThat(ready.status()).isEqualTo(200);
    assertThat(ready.json().get("status").asString()).isEqualTo("UP");
  }

  private static java.util.List<String> enumOf(tools.jackson.databind.JsonNode schema) {
    assertThat(schema).as("schema").isNotNull();
    assertThat(schema.has("enum")).as(schema.toString()).isTrue();
    java.util.List<String> out = new java.util.ArrayList<>();
    schema.get("enum").forEach(n -> out.add(n.asString()));
    return out;
  }

  @Test
  void openApiDescribesTheApiAndSwaggerUiIsServed() {
    Resp docs = get("/v3/api-docs", null);
    assertThat(docs.status()).isEqualTo(200);
    assertThat(docs.json().get("paths").has("/v1/jobs")).isTrue();
    assertThat(docs.json().get("paths").has("/v1/worker/claims")).isTrue();
    var job = docs.json().get("components").get("schemas").get("JobResource").get("properties");
    assertThat(job.has("max_attempts")).as("snake_case like the wire").isTrue();
    assertThat(job.has("maxAttempts")).isFalse();
    var tasks = docs.json().get("components").get("schemas").get("TaskCounts").get("properties");
    assertThat(job.get("tasks").get("$ref").asString()).endsWith("/TaskCounts");
    assertThat(tasks.has("sequences_done")).as("a job's task counts, snake_case").isTrue();
    assertThat(tasks.has("succeeded")).isTrue();
    assertThat(docs.json().get("components").get("securitySchemes").has("bearer")).isTrue();
    var schemas = docs.json().get("components").get("schemas");
    assertThat(enumOf(schemas.get("DatasetSpec").get("properties").get("template")))
        .containsExactlyElementsOf(dev.distill.spec.Catalog.TEMPLATES);
    assertThat(enumOf(schemas.get("DatasetSpec").get("properties").get("format")))
        .containsExactly("alpaca", "chat", "text", "augmented");
    assertThat(enumOf(schemas.get("Hyperparameters").get("properties").get("kd_loss")))
        .containsExactly("forward_kl", "reverse_kl", "jsd");
    assertThat(enumOf(schemas.get("GenerationSpec").get("properties").get("pre_query_template")))
        .contains("gemma2", "llama3", "qwen2");
    assertThat(enumOf(schemas.get("Requirements").get("properties").get("device")))
        .containsExactly("cpu", "cuda");
    assertThat(enumOf(schemas.get("LoraSpec").get("properties").get("target_modules").get("items")))
        .containsExactlyElementsOf(dev.distill.spec.Catalog.LORA_TARGET_MODULES);
    var uri = schemas.get("ModelRef").get("properties").get("uri");
    assertThat(enumOf(uri.get("anyOf").get(0)))
        .contains("builtin:gemma2-tiny", "builtin:gemma2-2b");
    assertThat(uri.get("anyOf").get(1).get("pattern").asString()).isEqualTo("^file:/.*");
    assertThat(uri.get("anyOf").get(3).get("pattern").asString()).isEqualTo("^openai:https?://.+");
    assertThat(
            enumOf(schemas.get("ModelRef").get("properties").get("tokenizer").get("anyOf").get(0)))
        .containsExactly("byte");
    assertThat(enumOf(schemas.get("DatasetSpec").get("properties").get("uri").get("anyOf").get(0)))
        .containsExactly("builtin:procedural");
    assertThat(enumOf(schemas.get("ModelRef").get("properties").get("config").get("propertyNames")))
        .contains("num_hidden_layers", "hidden_size");
    assertThat(enumOf(schemas.get("JobSpec").get("properties").get("type")))
        .containsExactly("distill", "finetune", "synthesize", "evaluate", "teacher_pass");
    Resp ui = get("/swagger-ui/index.html", null);
    assertThat(ui.status()).isEqualTo(200);
    assertThat(ui.body()).contains("swagger");
  }
}
