package dev.distill.service.job;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/** The contract of /v1/jobs: create, validation, idempotency, list, get, cancel. */
class JobApiTest extends ServiceTest {

  @Test
  void everyExampleIsAcceptedAndComesBackNormalised() {
    Project p = newProject();
    for (String type : List.of("distill", "finetune", "synthesize", "evaluate")) {
      Resp r = post("/v1/jobs", p.member(), example(type));
      assertThat(r.status()).as(type + ": " + r.body()).isEqualTo(201);
      String id = r.json().get("id").asString();
      assertThat(r.header("Location")).isEqualTo("/v1/jobs/" + id);
      JsonNode job = r.json();
      assertThat(job.get("type").asString()).isEqualTo(type);
      assertThat(job.get("status").asString()).isEqualTo("QUEUED");
      assertThat(job.get("project").asString()).isEqualTo(p.name());
      assertThat(job.get("attempts").asInt()).isZero();
      assertThat(job.get("spec").get("hyperparameters").get("beta2").asDouble()).isEqualTo(0.95);
      for (String field :
          List.of(
              "id",
              "project",
              "type",
              "status",
              "spec",
              "priority",
              "attempts",
              "max_attempts",
              "created_at",
              "updated_at",
              "started_at",
              "finished_at",
              "failure_reason",
              "retryable",
              "worker_id",
              "latest_metrics",
              "output_uri")) {
        assertThat(job.has(field)).as(field).isTrue();
      }
      assertThat(job(p.viewer(), id).get("spec")).isEqualTo(job.get("spec"));
    }
    assertThat(job(p.viewer(), createJob(p.member(), example("distill"))).get("priority").asInt())
        .isEqualTo(10);
  }

  @Test
  void unknownAndServerOwnedFieldsAreRejectedNamingTheField() {
    Project p = newProject();
    Resp unknown =
        post(
            "/v1/jobs",
            p.member(),
            "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"builtin:procedural\",\"shuffle\":true}}");
    assertThat(unknown.status()).isEqualTo(422);
    assertThat(unknown.header("Content-Type")).startsWith("application/problem+json");
    assertThat(unknown.json().get("type").asString())
        .isEqualTo("https://distill.dev/problems/validation-error");
    assertThat(unknown.json().get("errors").get(0).get("field").asString())
        .isEqualTo("dataset.shuffle");

    Resp owned =
        post(
            "/v1/jobs",
            p.member(),
            "{\"status\":\"SUCCEEDED\",\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"builtin:procedural\"}}");
    assertThat(owned.status()).isEqualTo(422);
    assertThat(owned.json().get("errors").get(0).get("field").asString()).isEqualTo("status");
    assertThat(owned.json().get("errors").get(0).get("message").asString())
        .contains("set by the server");
    assertThat(countJobs(p)).isZero();
  }

  @Test
  void everyViolationIsListedWithItsPath() {
    Project p = newProject();
    Resp r =
        post(
            "/v1/jobs",
            p.member(),
            "{\"type\":\"distill\",\"teacher\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"builtin:procedural\",\"max_seq_len\":2},"
                + "\"hyperparameters\":{\"learning_rate\":5,\"batch_size\":0},\"priority\":5000}");
    assertThat(r.status()).isEqualTo(422);
    assertThat(fields(r))
        .contains(
            "student",
            "dataset.max_seq_len",
            "hyperparameters.learning_rate",
            "hyperparameters.batch_size",
            "priority");
    assertThat(r.json().get("errors").toString())
        .contains("must be between -1000 and 1000, was 5000");
  }

  @Test
  void wrongTypesAndUnknownEnumValuesNameTheField() {
    Project p = newProject();
    Resp type = post("/v1/jobs", p.member(), "{\"type\":\"train\"}");
    assertThat(type.status()).isEqualTo(422);
    assertThat(fields(type)).containsExactly("type");
    Resp number =
        post(
            "/v1/jobs",
            p.member(),
            "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"builtin:procedural\"},\"hyperparameters\":{\"max_steps\":\"many\"}}");
    assertThat(number.status()).isEqualTo(422);
    assertThat(fields(number)).containsExactly("hyperparameters.max_steps");
    assertThat(number.body()).doesNotContain("java.", "Integer", "Exception");
  }

  @Test
  void malformedJsonIsA400Problem() {
    Project p = newProject();
    Resp r = post("/v1/jobs", p.member(), "{\"type\": \"distill\",");
    assertThat(r.status()).isEqualTo(400);
    assertThat(r.json().get("type").asString()).endsWith("/malformed-json");
    assertThat(r.body()).doesNotContain("Exception", "tools.jackson", "at [Source");
    assertThat(post("/v1/jobs", p.member(), "null").status()).isEqualTo(400);
    assertThat(post("/v1/jobs", p.member(), "[]").status()).isEqualTo(400);
    Resp empty = post("/v1/jobs", p.member(), "");
    assertThat(empty.status()).isEqualTo(400);
    assertThat(empty.header("Content-Type")).startsWith("application/problem+json");
  }

  @Test
  void referencesAreLimitedToAllowedRootsAndSchemes() {
    Project p = newProject();
    String outside =
        "{\"type\":\"finetune\",\"student\":\"file:/etc/models/x\",\"dataset\":{\"uri\":\"builtin:procedural\"}}";
    Resp r = post("/v1/jobs", p.member(), outside);
    assertThat(r.status()).isEqualTo(422);
    assertThat(fields(r)).containsExactly("student.uri");

    String inside =
        "{\"type\":\"finetune\",\"student\":\"file:"
            + HOME.resolve("data/model")
            + "\",\"dataset\":{\"uri\":\"builtin:procedural\"}}";
    mkdirs(HOME.resolve("data/model"));
    assertThat(post("/v1/jobs", p.member(), inside).status()).isEqualTo(201);

    String dotdot =
        "{\"type\":\"finetune\",\"student\":\"file:"
            + HOME.resolve("data")
            + "/../../etc\",\"dataset\":{\"uri\":\"builtin:procedural\"}}";
    Resp up = post("/v1/jobs", p.member(), dotdot);
    assertThat(up.status()).isEqualTo(422);
    assertThat(up.body()).contains("'..' is not allowed");

    Resp scheme =
        post(
            "/v1/jobs",
            p.member(),
            "{\"type\":\"finetune\",\"student\":\"s3://bucket/m\",\"dataset\":{\"uri\":\"builtin:procedural\"}}");
    assertThat(scheme.status()).isEqualTo(422);
  }

  @Test
  void aDatasetMixIsCheckedPerSourceNamingTheField() throws Exception {
    Project p = newProject();
    Path dir = mkdirs(HOME.resolve("data/mix-" + p.name()));
    Path raw = java.nio.file.Files.writeString(dir.resolve("raw.txt"), "some text\n");
    Resp weight =
        post(
            "/v1/jobs",
            p.member(),
            "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"mix\":["
                + "{\"uri\":\"file:"
                + raw
                + "\",\"format\":\"text\",\"weight\":1},{\"uri\":\"builtin:procedural\",\"weight\":0}]}}");
    assertThat(weight.status()).as(weight.body()).isEqualTo(422);
    assertThat(fields(weight)).containsExactly("dataset.mix[1].weight");
    Resp missing =
        post(
            "/v1/jobs",
            p.member(),
            "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"mix\":["
                + "{\"uri\":\"builtin:procedural\",\"weight\":1},{\"uri\":\"file:"
                + dir.resolve("none.txt")
                + "\",\"format\":\"text\",\"weight\":2}]}}");
    assertThat(missing.status()).as(missing.body()).isEqualTo(422);
    assertThat(fields(missing)).containsExactly("dataset.mix[1].uri");
    assertThat(countJobs(p)).isZero();
    Resp ok =
        post(
            "/v1/jobs",
            p.member(),
            "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"mix\":["
                + "{\"uri\":\"builtin:procedural\",\"weight\":1},{\"uri\":\"file:"
                + raw
                + "\",\"format\":\"text\",\"weight\":2,\"name\":\"raw\"}]}}");
    assertThat(ok.status()).as(ok.body()).isEqualTo(201);
    assertThat(ok.json().get("spec").get("dataset").get("mix").get(1).get("name").asString())
        .isEqualTo("raw");
  }

  @Test
  void fileReferencesUnderAnAllowedRootMustExistAtSubmission() throws Exception {
    Project p = newProject();
    Path dir = mkdirs(HOME.resolve("data/refs-" + p.name()));
    Path model = mkdirs(dir.resolve("model"));
    Path data = java.nio.file.Files.writeString(dir.resolve("train.jsonl"), "{}\n");
    String missing =
        "{\"type\":\"distill\",\"teacher\":\"file:"
            + dir.resolve("no-such-model")
            + "\",\"student\":{\"uri\":\"builtin:gemma2-tiny\",\"tokenizer\":\"file:"
            + dir.resolve("tokenizer.json")
            + "\"},\"dataset\":{\"uri\":\"file:"
            + model
            + "\"}}";
    Resp r = post("/v1/jobs", p.member(), missing);
    assertThat(r.status()).as(r.body()).isEqualTo(422);
    assertThat(r.header("Content-Type")).startsWith("application/problem+json");
    assertThat(fields(r)).containsExactly("teacher.uri", "student.tokenizer", "dataset.uri");
    assertThat(r.body())
        .contains(dir.resolve("no-such-model") + " does not exist")
        .contains("is not a file");
    assertThat(countJobs(p)).isZero();

    String present =
        "{\"type\":\"distill\",\"teacher\":\"file:"
            + model
            + "\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"file:"
            + data
            + "\"}}";
    Resp ok = post("/v1/jobs", p.member(), present);
    assertThat(ok.status()).as(ok.body()).isEqualTo(201);
  }

  @Test
  void unknownCatalogNamesAndAnEmptyValidationShareAreRefusedNamingTheField() {
    Project p = newProject();
    Resp r =
        post(
            "/v1/jobs",
            p.member(),
            "{\"type\":\"evaluate\",\"student\":\"builtin:gemma2-7b\",\"dataset\":"
                + "{\"uri\":\"builtin:procedural\",\"template\":\"vicuna\",\"validation_fraction\":0}}");
    assertThat(r.status()).as(r.body()).isEqualTo(422);
    assertThat(r.json().get("type").asString()).endsWith("/validation-error");
    assertThat(fields(r))
        .containsExactlyInAnyOrder(
            "student.uri", "dataset.template", "dataset.validation_fraction");
    assertThat(r.body()).contains("unknown builtin model 'gemma2-7b'");
    Resp synth =
        post(
            "/v1/jobs",
            p.member(),
            "{\"type\":\"synthesize\",\"teacher\":\"builtin:gemma2-tiny\",\"generation\":"
                + "{\"pre_query_template\":\"mistral\"}}");
    assertThat(synth.status()).isEqualTo(422);
    assertThat(fields(synth)).containsExactly("generation.pre_query_template");
    assertThat(countJobs(p)).isZero();
  }

  private static Path mkdirs(Path dir) {
    try {
      return java.nio.file.Files.createDirectories(dir);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @Test
  void jobReferencesMustNameAJobOfTheSameProject() {
    Project a = newProject();
    Project b = newProject();
    String other = createJob(b.member(), minimal("finetune", 0));
    String body =
        "{\"type\":\"distill\",\"teacher\":\"job:"
            + other
            + "\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"builtin:procedural\"}}";
    Resp r = post("/v1/jobs", a.member(), body);
    assertThat(r.status()).isEqualTo(422);
    assertThat(fields(r)).containsExactly("teacher.uri");
    assertThat(post("/v1/jobs", b.member(), body).status()).isEqualTo(201);
  }

  @Test
  void teacherLogitsMustNameATeacherPassJob() {
    Project p = newProject();
    String finetune = createJob(p.member(), minimal("finetune", 0));
    String pass =
        createJob(
            p.member(),
            "{\"type\":\"teacher_pass\",\"teacher\":\"builtin:gemma2-tiny\","
                + "\"dataset\":{\"uri\":\"builtin:procedural\"},\"teacher_pass\":{\"top_k\":16}}");
    String cached =
        "{\"type\":\"distill\",\"teacher_logits\":\"job:%s\","
            + "\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"builtin:procedural\"}}";
    Resp wrong = post("/v1/jobs", p.member(), cached.formatted(finetune));
    assertThat(wrong.status()).isEqualTo(422);
    assertThat(fields(wrong)).containsExactly("teacher_logits");
    assertThat(wrong.body()).contains("is a finetune job, not a teacher_pass job");
    Resp right = post("/v1/jobs", p.member(), cached.formatted(pass));
    assertThat(right.status()).as(right.body()).isEqualTo(201);
    assertThat(right.json().get("spec").get("teacher_logits").asString()).isEqualTo("job:" + pass);
  }

  @Test
  void idempotencyKeyReplaysTheSameJobAndRejectsAnotherBody() {
    Project p = newProject();
    Resp first = send("POST", "/v1/jobs", p.member(), example("distill"), "Idempotency-Key", "k-1");
    Resp again = send("POST", "/v1/jobs", p.member(), example("distill"), "Idempotency-Key", "k-1");
    assertThat(first.status()).isEqualTo(201);
    assertThat(again.status()).isEqualTo(201);
    assertThat(again.json().get("id")).isEqualTo(first.json().get("id"));
    assertThat(again.header("Idempotent-Replayed")).isEqualTo("true");
    Resp other =
        send("POST", "/v1/jobs", p.member(), example("finetune"), "Idempotency-Key", "k-1");
    assertThat(other.status()).isEqualTo(422);
    assertThat(other.json().get("type").asString()).endsWith("/idempotency-key-reused");
    assertThat(countJobs(p)).isEqualTo(1);
    Resp tooLong =
        send(
            "POST", "/v1/jobs", p.member(), example("distill"), "Idempotency-Key", "k".repeat(300));
    assertThat(tooLong.status()).isEqualTo(400);
    assertThat(tooLong.json().get("errors").get(0).get("field").asString())
        .isEqualTo("Idempotency-Key");
    // the same key in another project is another job
    Project q = newProject();
    Resp elsewhere =
        send("POST", "/v1/jobs", q.member(), example("distill"), "Idempotency-Key", "k-1");
    assertThat(elsewhere.json().get("id")).isNotEqualTo(first.json().get("id"));
  }

  @Test
  void listFiltersAndPagesNewestFirst() {
    Project p = newProject();
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      ids.add(createJob(p.member(), minimal(i % 2 == 0 ? "distill" : "finetune", 0)));
    }
    List<String> seen = new ArrayList<>();
    String after = null;
    int pages = 0;
    while (true) {
      Resp r = get("/v1/jobs?limit=2" + (after == null ? "" : "&after=" + after), p.viewer());
      assertThat(r.status()).isEqualTo(200);
      r.json().get("items").forEach(j -> seen.add(j.get("id").asString()));
      pages++;
      if (!r.json().get("has_more").asBoolean()) {
        assertThat(r.json().get("next_after").isNull()).isTrue();
        break;
      }
      after = r.json().get("next_after").asString();
    }
    assertThat(pages).isEqualTo(3);
    List<String> newestFirst = new ArrayList<>(ids);
    java.util.Collections.reverse(newestFirst);
    assertThat(seen).containsExactlyElementsOf(newestFirst);

    Resp finetunes = get("/v1/jobs?type=finetune", p.viewer());
    assertThat(finetunes.json().get("items")).hasSize(2);
    post("/v1/jobs/" + ids.get(0) + "/cancel", p.member(), "");
    Resp cancelled = get("/v1/jobs?status=CANCELLED", p.viewer());
    assertThat(cancelled.json().get("items")).hasSize(1);
    assertThat(cancelled.json().get("items").get(0).get("id").asString()).isEqualTo(ids.get(0));

    assertThat(get("/v1/jobs?limit=101", p.viewer()).status()).isEqualTo(400);
    assertThat(get("/v1/jobs?limit=0", p.viewer()).status()).isEqualTo(400);
    assertThat(get("/v1/jobs?status=DONE", p.viewer()).status()).isEqualTo(400);
    assertThat(get("/v1/jobs?type=train", p.viewer()).status()).isEqualTo(400);
    Resp badCursor = get("/v1/jobs?after=not-a-uuid", p.viewer());
    assertThat(badCursor.status()).isEqualTo(400);
    assertThat(badCursor.header("Content-Type")).startsWith("application/problem+json");
  }

  @Test
  void cancelQueuedJobEndsItAndRecordsTheTransition() {
    Project p = newProject();
    String id = createJob(p.member(), minimal("distill", 0));
    Resp r = post("/v1/jobs/" + id + "/cancel", p.member(), "");
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.json().get("status").asString()).isEqualTo("CANCELLED");
    assertThat(r.json().get("finished_at").isNull()).isFalse();
    JsonNode events = get("/v1/jobs/" + id + "/events", p.viewer()).json().get("items");
    assertThat(events).hasSize(2);
    assertThat(events.get(1).get("data").get("from").asString()).isEqualTo("QUEUED");
    assertThat(events.get(1).get("data").get("to").asString()).isEqualTo("CANCELLED");
    Resp again = post("/v1/jobs/" + id + "/cancel", p.member(), "");
    assertThat(again.status()).isEqualTo(409);
    assertThat(again.json().get("type").asString()).endsWith("/job-finished");
  }

  @Test
  void unknownJobsAre404Problems() {
    Project p = newProject();
    String missing = "/v1/jobs/00000000-0000-4000-8000-000000000000";
    for (String path :
        List.of(missing, missing + "/events", missing + "/metrics", missing + "/checkpoints")) {
      Resp r = get(path, p.viewer());
      assertThat(r.status()).as(path).isEqualTo(404);
      assertThat(r.json().get("type").asString()).endsWith("/not-found");
    }
    assertThat(post(missing + "/cancel", p.member(), "").status()).isEqualTo(404);
  }

  private int countJobs(Project p) {
    return jdbc.queryForObject(
        "SELECT count(*) FROM jobs WHERE project = ?", Integer.class, p.name());
  }

  private static Set<String> fields(Resp r) {
    Set<String> out = new java.util.LinkedHashSet<>();
    r.json().get("errors").forEach(e -> out.add(e.get("field").asString()));
    return out;
  }
}
