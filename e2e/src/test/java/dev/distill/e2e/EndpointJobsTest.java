package dev.distill.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Jobs that use outside OpenAI-compatible endpoints, on real processes: the service with an
 * allow-list ({@code DISTILL_ENDPOINTS}), workers with the endpoints' keys in their environment,
 * and {@link FakeOpenAiServer}s as the endpoints. A synthesize job whose teacher is an endpoint
 * writes data that a finetune job trains on; an evaluate job whose judge is an endpoint scores a
 * file in chapter 7's format and records malformed answers unscored; a host off the list is
 * refused; a judging job whose worker is killed is resumed by another without judging twice.
 */
class EndpointJobsTest {

  private static final String TEACHER_KEY = "sk-teacher-5ecret-0123";
  private static final Pattern RESPONSE =
      Pattern.compile("score the model response `(.*)` on a", Pattern.DOTALL);

  static FakeOpenAiServer teacher;
  static FakeOpenAiServer judge;
  static FakeOpenAiServer slowJudge;
  static Cluster cluster;
  static Path chapter7;

  @BeforeAll
  static void start() throws Exception {
    teacher =
        new FakeOpenAiServer(EndpointJobsTest::teach, b -> b.get("prompt").asString(), TEACHER_KEY);
    judge = new FakeOpenAiServer((p, b) -> judgeAnswer(b), EndpointJobsTest::exampleOf, null);
    slowJudge = new FakeOpenAiServer((p, b) -> "80", EndpointJobsTest::exampleOf, null);
    cluster =
        new Cluster(
            "15s",
            Map.of(
                "DISTILL_ENDPOINTS",
                "teacher="
                    + teacher.baseUrl()
                    + ",judge="
                    + judge.baseUrl()
                    + ",slow-judge="
                    + slowJudge.baseUrl()));
    chapter7 = writeChapter7File();
  }

  @AfterEach
  void stopWorkers() throws Exception {
    cluster.stopWorkers();
  }

  @AfterAll
  static void stop() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
    for (FakeOpenAiServer s : new FakeOpenAiServer[] {teacher, judge, slowJudge}) {
      if (s != null) {
        s.close();
      }
    }
  }

  /** 20 records of the 1,100 in chapter 7's evaluation layout, with two models' responses. */
  static Path writeChapter7File() throws Exception {
    Path dir = Path.of("").toAbsolutePath();
    Path source = null;
    while (dir != null && source == null) {
      Path c = dir.resolve("shared/datasets/alpaca-style-instructions-1100.json");
      source = Files.isRegularFile(c) ? c : null;
      dir = dir.getParent();
    }
    assertThat(source)
        .as("shared/datasets/alpaca-style-instructions-1100.json above the working directory")
        .isNotNull();
    ArrayNode all = (ArrayNode) Cluster.JSON.readTree(source.toFile());
    ArrayNode out = Cluster.JSON.createArrayNode();
    for (int i = 0; i < 20; i++) {
      ObjectNode r = ((ObjectNode) all.get(i)).deepCopy();
      r.put("model 1 response", r.get("output").asString());
      r.put("model 2 response", "I am not sure about #" + i + ".");
      out.add(r);
    }
    Path file = Files.createTempDirectory("distill-e2e-ch7").resolve("eval-example-data.json");
    Cluster.JSON.writeValue(file.toFile(), out);
    return file;
  }

  /** Magpie's two phases: an instruction for the bare pre-query, an answer for the full prompt. */
  static String teach(String path, JsonNode body) {
    String prompt = body.get("prompt").asString();
    assertThat(path).isEqualTo("completions");
    if (prompt.equals("<bos><start_of_turn>user\n")) { // Magpie's gemma-2 pre-query, BOS spelt out
      return "Repeat the number " + Math.floorMod(body.get("seed").asLong(), 97) + ".";
    }
    Matcher m = Pattern.compile("Repeat the number (\\d+)\\.").matcher(prompt);
    return m.find() ? "The number is " + m.group(1) + "." : "";
  }

  /** The example a judge request scores: the number in its response. */
  static String exampleOf(JsonNode body) {
    Matcher m = RESPONSE.matcher(body.get("messages").get(0).get("content").asString());
    return m.find() ? m.group(1) : "?";
  }

  /** Every third example gets a malformed answer, the others 0, 10, ... 90. */
  static String judgeAnswer(JsonNode body) {
    int i = Integer.parseInt(exampleOf(body).replaceAll("\\D", ""));
    return i % 3 == 0 ? "Score: about " + i : Integer.toString(10 * (i % 10));
  }

  private static String judging(String url, int concurrency) {
    return """
        {"type": "evaluate", "student": "builtin:gemma2-tiny",
         "dataset": {"uri": "file:%s", "format": "alpaca", "validation_fraction": 1,
                     "max_seq_len": 96},
         "hyperparameters": {"batch_size": 4},
         "judge": {"model": {"uri": "openai:%s", "model": "tiny-judge", "concurrency": %d},
                   "responses": "model 2 response"}}
        """
        .formatted(chapter7, url, concurrency);
  }

  private static List<JsonNode> lines(Path file) throws Exception {
    List<JsonNode> out = new ArrayList<>();
    for (String l : Files.readAllLines(file)) {
      out.add(Cluster.JSON.readTree(l));
    }
    return out;
  }

  /** The values of an evaluation's metric (reported at step 0). */
  private static List<Double> metric(String id, String name) throws Exception {
    List<Double> out = new ArrayList<>();
    cluster
        .get("v1/jobs/" + id + "/metrics?names=" + name + "&after_step=-1")
        .get("series")
        .path(name)
        .forEach(p -> out.add(p.get("value").asDouble()));
    return out;
  }

  private static Path output(JsonNode job) {
    return Path.of(job.get("output_uri").asString().substring("file:".length()));
  }

  @Test
  @Timeout(value = 600, unit = TimeUnit.SECONDS)
  void anEndpointTeacherWritesDataThatAFinetuneTrainsOn() throws Exception {
    teacher.failFirst(
        new FakeOpenAiServer.Failure(429, 1), new FakeOpenAiServer.Failure(500, null));
    String synth =
        cluster.createJob(
            """
            {"type": "synthesize",
             "teacher": {"uri": "openai:%s", "model": "big-teacher", "concurrency": 3},
             "generation": {"num_samples": 12, "max_new_tokens": 24, "temperature": 1.0,
                            "pre_query_template": "gemma2"}}
            """
                .formatted(teacher.baseUrl()));
    String finetune =
        cluster.createJob(
            """
            {"type": "finetune", "student": "builtin:gemma2-tiny",
             "dataset": {"uri": "job:%s", "format": "alpaca", "max_seq_len": 48,
                         "validation_fraction": 0},
             "hyperparameters": {"max_steps": 2, "batch_size": 2}}
            """
                .formatted(synth));
    cluster.startWorker("w-teacher", Map.of("DISTILL_ENDPOINT_KEY_TEACHER", TEACHER_KEY));

    JsonNode s = cluster.awaitStatus(synth, Duration.ofSeconds(400), "SUCCEEDED", "FAILED");
    assertThat(s.get("status").asString()).as("%s", s).isEqualTo("SUCCEEDED");
    List<JsonNode> rows = lines(output(s).resolve("data.jsonl"));
    assertThat(rows).isNotEmpty();
    for (JsonNode row : rows) {
      String n = row.get("instruction").asString().replaceAll("\\D", "");
      assertThat(row.get("output").asString()).isEqualTo("The number is " + n + ".");
    }
    JsonNode f = cluster.awaitStatus(finetune, Duration.ofSeconds(400), "SUCCEEDED", "FAILED");
    assertThat(f.get("status").asString()).as("%s", f).isEqualTo("SUCCEEDED");
    assertThat(cluster.series(finetune, "loss")).containsKeys(1L, 2L);

    // the key went to the endpoint only: not into an event or the worker's log
    assertThat(teacher.authorizations()).isNotEmpty().containsOnly("Bearer " + TEACHER_KEY);
    assertThat(cluster.events(synth).toString()).doesNotContain(TEACHER_KEY);
    assertThat(Files.readString(cluster.log("w-teacher"))).doesNotContain(TEACHER_KEY);
  }

  @Test
  @Timeout(value = 600, unit = TimeUnit.SECONDS)
  void anEndpointJudgeScoresAChapter7FileAndRecordsMalformedAnswersUnscored() throws Exception {
    String id = cluster.createJob(judging(judge.baseUrl(), 4));
    cluster.startWorker("w-judge");
    JsonNode job = cluster.awaitStatus(id, Duration.ofSeconds(400), "SUCCEEDED", "FAILED");
    assertThat(job.get("status").asString()).as("%s", job).isEqualTo("SUCCEEDED");

    Path out = output(job);
    List<JsonNode> rows = lines(out.resolve("generations.jsonl"));
    assertThat(rows).hasSize(20); // the whole file
    for (int i = 0; i < 20; i++) {
      JsonNode row = rows.get(i);
      assertThat(row.get("response").asString()).isEqualTo("I am not sure about #" + i + ".");
      assertThat(row.get("loss").isNumber()).isTrue();
      if (i % 3 == 0) {
        assertThat(row.get("score").isNull()).as("example %d", i).isTrue();
        assertThat(row.get("judge_raw").asString()).isEqualTo("Score: about " + i);
        assertThat(row.get("unscored_reason").asString()).isEqualTo("not an integer");
      } else {
        assertThat(row.get("score").asInt()).isEqualTo(10 * (i % 10));
      }
    }
    assertThat(metric(id, "judge_unscored")).containsExactly(7.0);
    assertThat(metric(id, "judge_scored")).containsExactly(13.0);
    assertThat(metric(id, "judge_hist_0_10")).containsExactly(3.0); // examples 1, 10, 11: 10, 0, 10
    assertThat(metric(id, "judge_mean")).hasSize(1);
    byte[] png = Files.readAllBytes(out.resolve("judge_scores.png"));
    assertThat(png).startsWith(0x89, 'P', 'N', 'G');
    assertThat(judge.answered().values()).containsOnly(1);
  }

  @Test
  void aHostOffTheAllowListIsRefusedNamingTheField() throws Exception {
    for (String url :
        new String[] {
          "http://127.0.0.1:1/v1",
          teacher.baseUrl().replace("127.0.0.1", "localhost"),
          teacher.baseUrl().replace("http://", "http://x@") // userinfo
        }) {
      HttpResponse<String> r = cluster.submit(judging(url, 1));
      assertThat(r.statusCode()).as(url + ": " + r.body()).isEqualTo(422);
      assertThat(r.headers().firstValue("Content-Type").orElse("")).contains("problem+json");
      assertThat(Cluster.JSON.readTree(r.body()).get("errors").get(0).get("field").asString())
          .isEqualTo("judge.model.uri");
    }
  }

  @Test
  @Timeout(value = 900, unit = TimeUnit.SECONDS)
  void aKilledJudgingJobResumesWithoutJudgingAnExampleTwice() throws Exception {
    slowJudge.holdRequest(6);
    String id = cluster.createJob(judging(slowJudge.baseUrl(), 1));
    Process first = cluster.startWorker("w-killed");
    assertThat(slowJudge.awaitHeld(200)).as("the sixth judge request arrives").isTrue();
    first.destroyForcibly(); // SIGKILL while request 6 is in flight
    assertThat(first.waitFor(30, TimeUnit.SECONDS)).isTrue();
    slowJudge.release();
    cluster.startWorker("w-resumes");

    JsonNode job = cluster.awaitStatus(id, Duration.ofSeconds(800), "SUCCEEDED", "FAILED");
    assertThat(job.get("status").asString()).as("%s", job).isEqualTo("SUCCEEDED");
    assertThat(job.get("attempts").asInt()).isGreaterThanOrEqualTo(2);
    assertThat(cluster.events(id).toString()).contains("5 done by an earlier attempt");
    // every example was answered exactly once; only the one in flight at the kill was asked again
    Map<String, Integer> answered = slowJudge.answered();
    assertThat(answered).hasSize(20);
    assertThat(answered.values()).containsOnly(1);
    assertThat(slowJudge.requests()).isEqualTo(21);
    assertThat(lines(output(job).resolve("generations.jsonl"))).hasSize(20);
    assertThat(metric(id, "judge_scored")).containsExactly(20.0);
  }
}
