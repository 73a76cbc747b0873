package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distill.spec.DatasetSpec;
import dev.distill.spec.GenerationSpec;
import dev.distill.spec.JobSpec;
import dev.distill.spec.JudgeSpec;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.data.SharedDatasets;
import dev.distill.trainer.text.EndpointConnector;
import dev.distill.trainer.text.TextAnswer;
import dev.distill.trainer.text.TextModel;
import dev.distill.trainer.text.TextRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * The synthesize and evaluate recipes with an {@code openai:} model: an outside model that answers
 * with text, stood in for by a scripted {@link TextModel} that counts what it is asked (the HTTP
 * client and a real test server are the application's tests). A run stopped midway is resumed by
 * the next without asking for anything twice.
 */
class EndpointRecipesTest {

  private static final ObjectMapper JSON = JsonMapper.builder().build();
  private static final ModelRef TINY = ModelRef.of("builtin:gemma2-tiny");
  private static final ModelRef ENDPOINT = ModelRef.endpoint("http://127.0.0.1:9/v1", "judge");

  @TempDir static Path tmp;

  /** Chapter 7's evaluation format: 20 records with two models' responses. */
  static Path chapter7;

  @BeforeAll
  static void writeAChapter7File() throws Exception {
    ArrayNode all =
        (ArrayNode)
            JSON.readTree(SharedDatasets.file("alpaca-style-instructions-1100.json").toFile());
    ArrayNode out = JSON.createArrayNode();
    for (int i = 0; i < 20; i++) {
      ObjectNode r = ((ObjectNode) all.get(i)).deepCopy();
      r.put("model 1 response", r.get("output").asString());
      r.put("model 2 response", "I am not sure about #" + i + ".");
      out.add(r);
    }
    chapter7 = tmp.resolve("eval-example-data.json");
    JSON.writeValue(chapter7.toFile(), out);
  }

  /** A scripted model: {@code answer} maps a request's prompt to its answer; counts by key. */
  static final class Scripted implements TextModel {
    final Function<TextRequest, String> answer;
    final int concurrency;
    final Map<String, AtomicInteger> asked = new ConcurrentHashMap<>();
    final AtomicInteger inFlight = new AtomicInteger();
    final AtomicInteger maxInFlight = new AtomicInteger();

    Scripted(int concurrency, Function<TextRequest, String> answer) {
      this.concurrency = concurrency;
      this.answer = answer;
    }

    private TextAnswer answer(TextRequest r) {
      asked.computeIfAbsent(r.key(), k -> new AtomicInteger()).incrementAndGet();
      maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
      try {
        Thread.sleep(2); // let requests overlap
        return new TextAnswer(answer.apply(r), false, 3);
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      } finally {
        inFlight.decrementAndGet();
      }
    }

    @Override
    public TextAnswer complete(TextRequest r) {
      return answer(r);
    }

    @Override
    public TextAnswer chat(TextRequest r) {
      return answer(r);
    }

    @Override
    public int concurrency() {
      return concurrency;
    }

    EndpointConnector connector() {
      return ref -> {
        assertThat(ref.isEndpoint()).isTrue();
        return this;
      };
    }
  }

  /** Scores what the chapter-7 judge prompt holds: 90 for the reference itself, else junk. */
  static String judgeRule(TextRequest r) {
    String p = r.prompt();
    int i = p.indexOf("score the model response `");
    String response =
        p.substring(i + "score the model response `".length(), p.indexOf("` on a scale"));
    String reference = p.substring(p.indexOf("correct output `") + 16, p.indexOf("`, score"));
    if (response.equals(reference)) {
      return "90";
    }
    int n = Integer.parseInt(response.replaceAll("\\D", ""));
    return switch (n % 4) {
      case 0 -> "Score: forty"; // malformed
      case 1 -> "250"; // out of range
      case 2 -> " 12.\n";
      default -> "`7`";
    };
  }

  private static JobSpec judging(String responses, GenerationSpec gen) {
    return RecipeSpecs.anEvaluation()
        .student(TINY)
        .dataset(
            new DatasetSpec("file:" + chapter7, "alpaca", "gemma", 96, 1.0, true, null, null, 1L))
        .batch(4)
        .generation(gen)
        .judge(new JudgeSpec(ENDPOINT, null, responses, null, null, null, null))
        .build();
  }

  private static List<JsonNode> lines(Path file) throws Exception {
    List<JsonNode> out = new ArrayList<>();
    for (String l : Files.readAllLines(file)) {
      out.add(JSON.readTree(l));
    }
    return out;
  }

  @Test
  void aJudgeScoresTheWholeFileAndRecordsMalformedAnswersUnscored() throws Exception {
    Scripted judge = new Scripted(4, EndpointRecipesTest::judgeRule);
    RecipeSpecs.Recorder rec = new RecipeSpecs.Recorder();
    RunResult r =
        Recipes.run(
            judging("model 2 response", new GenerationSpec(200, 4, null, null, null)),
            new RunContext(
                tmp.resolve("judged"), Map.of(), rec, null, judge.connector(), null, null, null));

    assertThat(r.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    List<JsonNode> rows =
        lines(r.lastCheckpoint().dir().resolve(EvaluationOutput.GENERATIONS_FILE));
    // validation_fraction 1: every one of the 20 records, in file order
    assertThat(rows).hasSize(20);
    for (int i = 0; i < 20; i++) {
      JsonNode row = rows.get(i);
      assertThat(row.get("index").asInt()).isEqualTo(i);
      assertThat(row.get("response").asString()).isEqualTo("I am not sure about #" + i + ".");
      assertThat(row.get("response_source").asString()).isEqualTo("model 2 response");
      assertThat(row.get("prompt").asString()).startsWith("<bos><start_of_turn>user\n");
      assertThat(row.get("reference").asString()).isNotBlank();
      assertThat(row.get("loss").asDouble()).isPositive();
      assertThat(row.has("judge_raw")).isTrue();
      switch (i % 4) {
        case 0 -> {
          assertThat(row.get("score").isNull()).isTrue();
          assertThat(row.get("judge_raw").asString()).isEqualTo("Score: forty");
          assertThat(row.get("unscored_reason").asString()).isEqualTo("not an integer");
        }
        case 1 -> {
          assertThat(row.get("score").isNull()).isTrue();
          assertThat(row.get("unscored_reason").asString()).startsWith("out of range");
        }
        case 2 -> assertThat(row.get("score").asInt()).isEqualTo(12);
        default -> assertThat(row.get("score").asInt()).isEqualTo(7);
      }
      assertThat(judge.asked.get("example " + i)).hasValue(1);
    }
    assertThat(judge.maxInFlight.get()).isBetween(1, 4);
    Map<String, Double> m = r.metrics();
    assertThat(m.get("judge_scored")).isEqualTo(10.0);
    assertThat(m.get("judge_unscored")).isEqualTo(10.0);
    assertThat(m.get("judge_mean")).isEqualTo((5 * 12 + 5 * 7) / 10.0);
    assertThat(m.get("judge_hist_0_10")).isEqualTo(5.0);
    assertThat(m.get("judge_hist_11_20")).isEqualTo(5.0);
    assertThat(rec.evals.get(0L)).containsEntry("judge_unscored", 10.0);
    JsonNode scores =
        JSON.readTree(r.lastCheckpoint().dir().resolve(EvaluationOutput.SCORES_FILE).toFile());
    assertThat(scores.get("judge_mean").asDouble()).isEqualTo(9.5);
  }

  @Test
  void theStudentsGreedyAnswersAreJudgedByDefault() throws Exception {
    Scripted judge = new Scripted(2, req -> "50");
    RunResult r =
        Recipes.run(
            judging(JudgeSpec.STUDENT, new GenerationSpec(5, 3, null, null, null)),
            new RunContext(
                tmp.resolve("student"), Map.of(), null, null, judge.connector(), null, null, null));
    List<JsonNode> rows =
        lines(r.lastCheckpoint().dir().resolve(EvaluationOutput.GENERATIONS_FILE));
    assertThat(rows).hasSize(5); // num_samples caps the examples
    for (JsonNode row : rows) {
      assertThat(row.get("response_source").asString()).isEqualTo("student");
      assertThat(row.get("score").asInt()).isEqualTo(50);
    }
    assertThat(r.metrics().get("judge_mean")).isEqualTo(50.0);
  }

  @Test
  void aStoppedJudgingRunResumesWithoutJudgingAnExampleTwice() throws Exception {
    Scripted judge = new Scripted(3, req -> "70");
    JobSpec spec = judging("model 1 response", new GenerationSpec(200, 4, null, null, null));
    Path out = tmp.resolve("judge-resume");
    AtomicInteger checks = new AtomicInteger();
    StopSignal preemptAfter7 =
        () ->
            checks.incrementAndGet() > 7
                ? Optional.of(StopSignal.Reason.PREEMPTED)
                : Optional.empty();
    RunResult first =
        Recipes.run(
            spec,
            new RunContext(
                out, Map.of(), null, preemptAfter7, judge.connector(), null, null, null));
    assertThat(first.outcome()).isEqualTo(RunResult.Outcome.PREEMPTED);
    assertThat(first.lastCheckpoint()).isNull();
    assertThat(judge.asked).hasSize(7);

    RecipeSpecs.Recorder rec = new RecipeSpecs.Recorder();
    RunResult second =
        Recipes.run(
            spec, new RunContext(out, Map.of(), rec, null, judge.connector(), null, null, null));
    assertThat(second.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(rec.events).anyMatch(e -> e.startsWith("resumed:") && e.contains("7 done"));
    assertThat(judge.asked).hasSize(20);
    judge.asked.forEach((key, n) -> assertThat(n).as(key).hasValue(1));
    assertThat(second.metrics().get("judge_scored")).isEqualTo(20.0);
    assertThat(lines(second.lastCheckpoint().dir().resolve(EvaluationOutput.GENERATIONS_FILE)))
        .extracting(n -> n.get("index").asInt())
        .containsExactlyElementsOf(java.util.stream.IntStream.range(0, 20).boxed().toList());
  }

  @Test
  void aMissingResponseFieldIsRefusedBeforeAnyRequest() {
    Scripted judge = new Scripted(1, req -> "1");
    assertThatThrownBy(
            () ->
                Recipes.run(
                    judging("model 3 response", null),
                    new RunContext(
                        tmp.resolve("missing"),
                        Map.of(),
                        null,
                        null,
                        judge.connector(),
                        null,
                        null,
                        null)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("judge.responses")
        .hasMessageContaining("model 3 response");
    assertThat(judge.asked).isEmpty();
  }

  /** The teacher as an endpoint: instruction i is "Question i?", its answer "Answer to i". */
  static String teacherRule(TextRequest r) {
    String p = r.prompt();
    if (p.equals("<bos><start_of_turn>user\n")) {
      int sample = Integer.parseInt(r.key().replaceAll("\\D", ""));
      return sample == 3 ? "Question 2?" : "Question " + sample + "?"; // 3 duplicates 2
    }
    assertThat(p)
        .startsWith("<bos><start_of_turn>user\nQuestion ")
        .endsWith("<start_of_turn>model\n");
    return "Answer to " + p.replaceAll("\\D", "");
  }

  @Test
  void anEndpointTeacherWritesMagpieDataAndAStoppedRunResumes() throws Exception {
    Scripted teacher = new Scripted(3, EndpointRecipesTest::teacherRule);
    JobSpec spec =
        RecipeSpecs.aSynthesis()
            .teacher(ModelRef.endpoint("http://127.0.0.1:9/v1", "big"))
            .generation(new GenerationSpec(10, 16, 1.0, 0.95, "gemma2"))
            .build();
    Path out = tmp.resolve("synth-endpoint");
    AtomicInteger checks = new AtomicInteger();
    StopSignal preemptAfter2Batches =
        () ->
            checks.incrementAndGet() > 2
                ? Optional.of(StopSignal.Reason.PREEMPTED)
                : Optional.empty();
    RunResult first =
        Recipes.run(
            spec,
            new RunContext(
                out, Map.of(), null, preemptAfter2Batches, teacher.connector(), null, null, null));
    assertThat(first.outcome()).isEqualTo(RunResult.Outcome.PREEMPTED);
    assertThat(first.metrics().get("samples_attempted")).isEqualTo(6.0); // two batches of 3

    RecipeSpecs.Recorder rec = new RecipeSpecs.Recorder();
    RunResult r =
        Recipes.run(
            spec, new RunContext(out, Map.of(), rec, null, teacher.connector(), null, null, null));
    assertThat(r.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(rec.events).anyMatch(e -> e.startsWith("resumed: synthesize resumes after 6"));
    List<JsonNode> rows = lines(r.lastCheckpoint().dir().resolve(SynthesisRecipe.DATA_FILE));
    assertThat(rows)
        .extracting(n -> n.get("instruction").asString())
        .containsExactly(
            "Question 0?",
            "Question 1?",
            "Question 2?",
            "Question 4?",
            "Question 5?",
            "Question 6?",
            "Question 7?",
            "Question 8?",
            "Question 9?");
    for (JsonNode row : rows) {
      assertThat(row.get("output").asString())
          .isEqualTo("Answer to " + row.get("instruction").asString().replaceAll("\\D", ""));
    }
    assertThat(r.metrics().get("dropped_duplicate")).isEqualTo(1.0);
    // every instruction asked once; every kept one answered once (the duplicate is not)
    for (int i = 0; i < 10; i++) {
      assertThat(teacher.asked.get("sample " + i + " instruction")).as("sample " + i).hasValue(1);
      if (i != 3) {
        assertThat(teacher.asked.get("sample " + i + " response")).as("sample " + i).hasValue(1);
      }
    }
    assertThat(teacher.asked).doesNotContainKey("sample 3 response");
    assertThat(teacher.maxInFlight.get()).isBetween(1, 3);
  }

  @Test
  void anEndpointTeacherAnswersADatasetsInstructionsAndAStoppedRunResumes() throws Exception {
    Path file = tmp.resolve("instructions.jsonl");
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 7; i++) {
      sb.append("{\"instruction\": \"Question ").append(i).append("?\"}\n");
    }
    Files.writeString(file, sb);
    // raw completions of the dataset template's prompt, seeded per record
    Scripted teacher = new Scripted(3, EndpointRecipesTest::teacherRule);
    JobSpec spec =
        RecipeSpecs.aSynthesis()
            .teacher(ModelRef.endpoint("http://127.0.0.1:9/v1", "big"))
            .dataset(
                new DatasetSpec(
                    "file:" + file, "alpaca", "gemma", null, null, null, null, null, null))
            .generation(
                new GenerationSpec(100, 16, 0.7, 0.95, null, null, null, GenerationSpec.RESPONSES))
            .build();
    Path out = tmp.resolve("responses-endpoint");
    AtomicInteger checks = new AtomicInteger();
    StopSignal preemptAfter2Batches =
        () ->
            checks.incrementAndGet() > 2
                ? Optional.of(StopSignal.Reason.PREEMPTED)
                : Optional.empty();
    RunResult first =
        Recipes.run(
            spec,
            new RunContext(
                out, Map.of(), null, preemptAfter2Batches, teacher.connector(), null, null, null));
    assertThat(first.outcome()).isEqualTo(RunResult.Outcome.PREEMPTED);
    assertThat(first.metrics().get("samples_attempted")).isEqualTo(6.0); // two batches of 3

    RecipeSpecs.Recorder rec = new RecipeSpecs.Recorder();
    RunResult r =
        Recipes.run(
            spec, new RunContext(out, Map.of(), rec, null, teacher.connector(), null, null, null));
    assertThat(r.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(rec.events).anyMatch(e -> e.startsWith("resumed: synthesize resumes after 6 of 7"));
    List<JsonNode> rows = lines(r.lastCheckpoint().dir().resolve(SynthesisRecipe.DATA_FILE));
    assertThat(rows).hasSize(7);
    for (int i = 0; i < 7; i++) {
      assertThat(rows.get(i).get("instruction").asString()).isEqualTo("Question " + i + "?");
      assertThat(rows.get(i).get("output").asString()).isEqualTo("Answer to " + i);
      assertThat(rows.get(i).get("source_index").asInt()).isEqualTo(i);
      assertThat(teacher.asked.get("sample " + i + " response")).as("record " + i).hasValue(1);
    }
    assertThat(teacher.asked.keySet()).allMatch(k -> k.endsWith(" response"));
    JsonNode manifest =
        JSON.readTree(r.lastCheckpoint().dir().resolve(SynthesisRecipe.MANIFEST_FILE).toFile());
    assertThat(manifest.get("endpoint_model").asString()).isEqualTo("big");
    assertThat(manifest.get("settings").get("temperature").asDouble()).isEqualTo(0.7);
  }
}
