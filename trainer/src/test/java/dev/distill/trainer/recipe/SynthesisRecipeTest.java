package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distill.spec.DatasetSpec;
import dev.distill.spec.GenerationSpec;
import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.checkpoint.CheckpointManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * Magpie synthesis on gemma2-tiny: random weights (gibberish, but the structure must hold) and a
 * model briefly trained to say one conversation, which shows where generation stops.
 */
class SynthesisRecipeTest {

  private static final ObjectMapper JSON = JsonMapper.builder().build();
  private static final ModelRef TINY = ModelRef.of("builtin:gemma2-tiny");

  @TempDir static Path tmp;

  /** Instruction -> response pairs the parrot model learns, in the Gemma template. */
  static final Map<String, String> PAIRS =
      Map.of("Hi", "Hello", "Bye", "See you", "Yes", "No", "Up", "Down");

  /** A gemma2-tiny briefly trained to hold the four conversations of {@link #PAIRS}. */
  static Path parrot;

  static final String PARROT_ID = UUID.randomUUID().toString();

  @BeforeAll
  static void trainAParrot() throws Exception {
    Path data = tmp.resolve("pairs.jsonl");
    StringBuilder sb = new StringBuilder();
    for (int copy = 0; copy < 2; copy++) {
      PAIRS.forEach(
          (q, a) ->
              sb.append("{\"instruction\": \"")
                  .append(q)
                  .append("\", \"input\": \"\", \"output\": \"")
                  .append(a)
                  .append("\"}\n"));
    }
    Files.writeString(data, sb);
    // mask_prompt false: the model also learns to write the instructions
    JobSpec parrotJob =
        RecipeSpecs.aFinetune()
            .student(TINY)
            .dataset(RecipeSpecs.alpaca("file:" + data.toAbsolutePath(), false, 7L))
            .steps(120)
            .batch(8)
            .learningRate(1e-2)
            .checkpointEvery(1000)
            .keepCheckpoints(1)
            .build();
    RunResult r =
        Recipes.run(parrotJob, new RunContext(tmp.resolve("parrot-job"), Map.of(), null, null));
    assertThat(r.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    parrot = r.lastCheckpoint().dir();
  }

  static JobSpec synthesize(ModelRef teacher, long seed, GenerationSpec gen) {
    return RecipeSpecs.aSynthesis().teacher(teacher).seed(seed).generation(gen).build();
  }

  /** A one-step finetune of gemma2-tiny on a synthesize job's output. */
  static JobSpec finetuneOn(String jobId) {
    return RecipeSpecs.aFinetune()
        .student(TINY)
        .dataset(RecipeSpecs.alpaca("job:" + jobId, true, 1L))
        .steps(1)
        .batch(1)
        .learningRate(1e-3)
        .checkpointEvery(1000)
        .keepCheckpoints(1)
        .build();
  }

  static List<JsonNode> rows(Path dir) throws Exception {
    List<JsonNode> out = new ArrayList<>();
    for (String l : Files.readAllLines(dir.resolve(SynthesisRecipe.DATA_FILE))) {
      out.add(JSON.readTree(l));
    }
    return out;
  }

  @Test
  void randomWeightsGiveValidAlpacaJsonlAndCountEverySample() throws Exception {
    RecipeSpecs.Recorder rec = new RecipeSpecs.Recorder();
    RunResult r =
        Recipes.run(
            synthesize(TINY, 3, new GenerationSpec(12, 10, 1.0, 0.95, "gemma2")),
            new RunContext(tmp.resolve("random"), Map.of(), rec, null));

    assertThat(r.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    Path out = r.lastCheckpoint().dir();
    CheckpointManager.load(out); // verified manifest
    assertThat(rec.checkpoints).containsExactly(r.lastCheckpoint());
    List<JsonNode> rows = rows(out);
    Map<String, Double> m = r.metrics();
    assertThat(m.get("samples_attempted")).isEqualTo(12.0);
    assertThat(m.get("samples_written")).isEqualTo((double) rows.size());
    double dropped =
        m.get("dropped_empty")
            + m.get("dropped_too_long")
            + m.get("dropped_duplicate")
            + m.get("dropped_empty_response");
    assertThat(rows.size() + dropped).isEqualTo(12.0);
    // random weights rarely emit an end-of-turn within 10 tokens: most are dropped as too long
    assertThat(m.get("dropped_too_long")).isPositive();
    assertThat(rec.events).anyMatch(e -> e.startsWith("warning: dropped"));
    Set<String> instructions = new HashSet<>();
    for (JsonNode row : rows) {
      assertThat(row.propertyNames()).containsExactly("instruction", "input", "output");
      assertThat(row.get("input").asString()).isEmpty();
      assertThat(row.get("instruction").asString()).isNotBlank().doesNotContain("<end_of_turn>");
      assertThat(row.get("output").asString()).isNotBlank();
      assertThat(instructions.add(row.get("instruction").asString())).isTrue();
    }
    JsonNode manifest = JSON.readTree(out.resolve(SynthesisRecipe.MANIFEST_FILE).toFile());
    assertThat(manifest.get("model").asString()).isEqualTo("builtin:gemma2-tiny");
    assertThat(manifest.get("pre_query_template").asString()).isEqualTo("gemma");
    assertThat(manifest.get("pre_query").asString()).isEqualTo("<bos><start_of_turn>user\n");
    assertThat(manifest.get("seed").asLong()).isEqualTo(3);
    assertThat(manifest.get("settings").get("temperature").asDouble()).isEqualTo(1.0);
    assertThat(manifest.get("counts").get("samples_written").asLong()).isEqualTo(rows.size());
    // progress after every PROGRESS_EVERY samples and at the end; no validation pass, no step
    assertThat(rec.progress).containsOnlyKeys(10L, 12L);
    assertThat(rec.progress.get(12L)).isEqualTo(m);
    assertThat(rec.evals).isEmpty();
    assertThat(r.step()).isZero();
    assertThat(r.samples()).isEqualTo(rows.size());
  }

  @Test
  void sameSeedSameFileOtherSeedOtherFile() throws Exception {
    // sampling at temperature 1 from the parrot: the first instruction token is drawn among H, B,
    // Y, U, so the order in which the four instructions first appear depends on the seed; top_p
    // 0.9 keeps those four and cuts the unlikely tail elsewhere
    GenerationSpec gen = new GenerationSpec(8, 24, 1.0, 0.9, null);
    ModelRef teacher = ModelRef.of("job:" + PARROT_ID);
    long[] seeds = {11, 11, 12};
    List<List<String>> instructions = new ArrayList<>();
    byte[][] files = new byte[3][];
    for (int k = 0; k < 3; k++) {
      RunResult r =
          Recipes.run(
              synthesize(teacher, seeds[k], gen),
              new RunContext(tmp.resolve("det-" + k), Map.of(PARROT_ID, parrot), null, null));
      Path out = r.lastCheckpoint().dir();
      files[k] = Files.readAllBytes(out.resolve(SynthesisRecipe.DATA_FILE));
      List<String> qs = new ArrayList<>();
      for (JsonNode row : rows(out)) {
        qs.add(row.get("instruction").asString());
        // the response follows the instruction it was asked
        assertThat(row.get("output").asString()).isEqualTo(PAIRS.get(qs.get(qs.size() - 1)));
      }
      assertThat(r.metrics().get("samples_written") + r.metrics().get("dropped_duplicate"))
          .isEqualTo(8.0);
      instructions.add(qs);
    }
    assertThat(files[1]).isEqualTo(files[0]);
    assertThat(instructions.get(0)).hasSizeGreaterThan(1);
    assertThat(instructions.get(2)).isNotEqualTo(instructions.get(0));
  }

  @Test
  void stopsAtTheEndOfTurnMarkerAndDropsDuplicates() throws Exception {
    RecipeSpecs.Recorder rec = new RecipeSpecs.Recorder();
    RunResult r =
        Recipes.run(
            synthesize(
                ModelRef.of("job:" + PARROT_ID), 1, new GenerationSpec(3, 24, 0.0, 1.0, "gemma2")),
            new RunContext(tmp.resolve("parrot-synth"), Map.of(PARROT_ID, parrot), rec, null));

    List<JsonNode> rows = rows(r.lastCheckpoint().dir());
    // greedy: the same instruction three times, ended by <end_of_turn> (not by the 24-token bound)
    assertThat(rows).hasSize(1);
    String instruction = rows.get(0).get("instruction").asString();
    assertThat(PAIRS).containsKey(instruction);
    assertThat(rows.get(0).get("output").asString()).isEqualTo(PAIRS.get(instruction));
    assertThat(r.metrics().get("dropped_duplicate")).isEqualTo(2.0);
    assertThat(r.metrics().get("dropped_too_long")).isZero();
    assertThat(r.metrics().get("truncated_responses")).isZero();
  }

  @Test
  void aFinetuneSpecTrainsOnTheSynthesizedDataThroughItsJobId() throws Exception {
    RunResult synth =
        Recipes.run(
            synthesize(
                ModelRef.of("job:" + PARROT_ID), 1, new GenerationSpec(2, 24, 0.0, 1.0, null)),
            new RunContext(tmp.resolve("synth-for-ft"), Map.of(PARROT_ID, parrot), null, null));
    String synthId = UUID.randomUUID().toString();
    RecipeSpecs.Recorder rec = new RecipeSpecs.Recorder();
    RunResult ft =
        Recipes.run(
            finetuneOn(synthId),
            new RunContext(
                tmp.resolve("ft-on-synth"),
                Map.of(synthId, synth.lastCheckpoint().dir()),
                rec,
                null));
    assertThat(ft.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(rec.steps).hasSize(1);
    assertThat(rec.steps.get(0).ce()).isFinite().isPositive();
    assertThat(rec.events).anyMatch(e -> e.contains("; 1 training and 0 validation sequences"));
  }

  @Test
  void aDatasetJobWithoutDataIsRefusedNamingTheJob() {
    String id = UUID.randomUUID().toString();
    JobSpec spec = finetuneOn(id);
    // the output of a training job: a model, no data file
    assertThatThrownBy(
            () ->
                Recipes.run(
                    spec, new RunContext(tmp.resolve("no-data"), Map.of(id, parrot), null, null)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("job:" + id)
        .hasMessageContaining(SynthesisRecipe.DATA_FILE);
    assertThatThrownBy(
            () -> Recipes.run(spec, new RunContext(tmp.resolve("no-data-2"), Map.of(), null, null)))
        .hasMessageContaining("job:" + id)
        .hasMessageContaining("no output of that job");
  }

  @Test
  void cancelStopsBetweenSamplesWithoutOutput() {
    int[] checks = {0};
    StopSignal stop =
        () -> ++checks[0] > 2 ? Optional.of(StopSignal.Reason.CANCELLED) : Optional.empty();
    RecipeSpecs.Recorder rec = new RecipeSpecs.Recorder();
    RunResult r =
        Recipes.run(
            synthesize(TINY, 1, new GenerationSpec(50, 4, 1.0, 1.0, null)),
            new RunContext(tmp.resolve("cancelled"), Map.of(), rec, stop));
    assertThat(r.outcome()).isEqualTo(RunResult.Outcome.CANCELLED);
    assertThat(r.lastCheckpoint()).isNull();
    assertThat(r.metrics().get("samples_attempted")).isEqualTo(2.0);
    assertThat(rec.checkpoints).isEmpty();
    assertThat(rec.events).anyMatch(e -> e.startsWith("cancelled: stopped after 2 of 50"));
    assertThat(Files.exists(tmp.resolve("cancelled").resolve("checkpoints"))).isFalse();
  }

  @Test
  void anUnknownPreQueryTemplateNamesTheField() {
    assertThatThrownBy(
            () ->
                Recipes.run(
                    synthesize(TINY, 1, new GenerationSpec(1, 4, 1.0, 1.0, "vicuna")),
                    new RunContext(tmp.resolve("bad"), Map.of(), null, null)))
        .hasMessageContaining("generation.pre_query_template")
        .hasMessageContaining("'vicuna'");
  }

  @Test
  void keepingNoSampleFailsWithTheCounts() {
    RecipeSpecs.Recorder rec = new RecipeSpecs.Recorder();
    // one token per instruction: random weights never end the turn in it, so every sample is too
    // long
    assertThatThrownBy(
            () ->
                Recipes.run(
                    synthesize(TINY, 1, new GenerationSpec(5, 1, 1.0, 1.0, null)),
                    new RunContext(tmp.resolve("none-kept"), Map.of(), rec, null)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("synthesize kept 0 of 5 samples (0 empty, 5 too long")
        .hasMessageContaining("mask_prompt false");
    assertThat(Recipes.isRetryable(new IllegalStateException("x"))).isFalse();
    assertThat(rec.checkpoints).isEmpty();
    assertThat(rec.events).anyMatch(e -> e.startsWith("warning: dropped 5 of 5"));
  }

  @Test
  void aCustomPreQueryTextIsUsedVerbatimAndStopStringsEndTheTurns() throws Exception {
    // the parrot learnt "<start_of_turn>user\nBye<end_of_turn>": a pre-query ending in "B" leaves
    // it "ye"
    String custom = "<bos><start_of_turn>user\nB";
    RunResult r =
        Recipes.run(
            synthesize(
                ModelRef.of("job:" + PARROT_ID),
                1,
                new GenerationSpec(1, 24, 0.0, 1.0, "gemma2", custom, null)),
            new RunContext(tmp.resolve("custom"), Map.of(PARROT_ID, parrot), null, null));
    List<JsonNode> rows = rows(r.lastCheckpoint().dir());
    assertThat(rows).hasSize(1);
    assertThat(rows.get(0).get("instruction").asString()).isEqualTo("ye");
    JsonNode manifest =
        JSON.readTree(r.lastCheckpoint().dir().resolve(SynthesisRecipe.MANIFEST_FILE).toFile());
    assertThat(manifest.get("pre_query").asString()).isEqualTo(custom);

    RunResult stopped =
        Recipes.run(
            synthesize(
                ModelRef.of("job:" + PARROT_ID),
                1,
                new GenerationSpec(1, 24, 0.0, 1.0, "gemma2", custom, List.of("e"))),
            new RunContext(tmp.resolve("custom-stop"), Map.of(PARROT_ID, parrot), null, null));
    List<JsonNode> cut = rows(stopped.lastCheckpoint().dir());
    assertThat(cut).hasSize(1);
    assertThat(cut.get(0).get("instruction").asString()).isEqualTo("y");
    assertThat(cut.get(0).get("output").asString()).doesNotContain("e");
  }

  // ---- generation.mode responses: sequence-level distillation ----

  /** Instructions for the parrot: one without an output, one with a reference answer, one chat. */
  static Path instructions(String name) throws Exception {
    Path file = tmp.resolve(name + ".jsonl");
    Files.writeString(
        file,
        """
        {"instruction": "Hi"}
        {"instruction": "Bye", "input": "", "output": "a reference answer"}
        {"instruction": "Yes", "source": "kept aside"}
        {"instruction": "Up"}
        """);
    return file;
  }

  static JobSpec respond(ModelRef teacher, String datasetUri, String format, long seed, int n) {
    return RecipeSpecs.aSynthesis()
        .teacher(teacher)
        .seed(seed)
        .dataset(new DatasetSpec(datasetUri, format, "gemma", null, null, null, null, null, null))
        .generation(new GenerationSpec(n, 24, 0.0, 1.0, null, null, null, GenerationSpec.RESPONSES))
        .build();
  }

  @Test
  void responsesModeAnswersEveryInstructionUnchangedWithProvenance() throws Exception {
    Path file = instructions("answer-me");
    RecipeSpecs.Recorder rec = new RecipeSpecs.Recorder();
    RunResult r =
        Recipes.run(
            respond(ModelRef.of("job:" + PARROT_ID), "file:" + file, "alpaca", 5, 200),
            new RunContext(tmp.resolve("responses"), Map.of(PARROT_ID, parrot), rec, null));
    assertThat(r.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    List<JsonNode> rows = rows(r.lastCheckpoint().dir());
    // one row per instruction, in file order, the instruction unchanged, the parrot's answer
    assertThat(rows)
        .extracting(n -> n.get("instruction").asString())
        .containsExactly("Hi", "Bye", "Yes", "Up");
    for (int i = 0; i < rows.size(); i++) {
      JsonNode row = rows.get(i);
      assertThat(row.propertyNames())
          .containsExactly("instruction", "input", "output", "source_index");
      assertThat(row.get("output").asString())
          .isEqualTo(PAIRS.get(row.get("instruction").asString()));
      assertThat(row.get("source_index").asInt()).isEqualTo(i);
    }
    assertThat(r.metrics().get("samples_written")).isEqualTo(4.0);
    JsonNode manifest =
        JSON.readTree(r.lastCheckpoint().dir().resolve(SynthesisRecipe.MANIFEST_FILE).toFile());
    assertThat(manifest.get("method").asString()).isEqualTo("responses");
    assertThat(manifest.get("model").asString()).isEqualTo("job:" + PARROT_ID);
    assertThat(manifest.get("dataset").asString()).isEqualTo("file:" + file);
    assertThat(manifest.get("format").asString()).isEqualTo("alpaca");
    assertThat(manifest.get("settings").get("temperature").asDouble()).isZero();
    assertThat(manifest.get("seed").asLong()).isEqualTo(5);
    assertThat(rec.events).anyMatch(e -> e.startsWith("started: synthesize responses: 4 of 4"));

    // num_samples caps the records answered; chat records keep their turns
    Path chat = tmp.resolve("chat.jsonl");
    Files.writeString(
        chat,
        """
        {"messages": [{"role": "user", "content": "Up"}]}
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "?"}]}
        {"messages": [{"role": "user", "content": "Yes"}]}
        """);
    RunResult c =
        Recipes.run(
            respond(ModelRef.of("job:" + PARROT_ID), "file:" + chat, "chat", 5, 2),
            new RunContext(tmp.resolve("responses-chat"), Map.of(PARROT_ID, parrot), null, null));
    List<JsonNode> chatRows = rows(c.lastCheckpoint().dir());
    assertThat(chatRows).hasSize(2);
    assertThat(chatRows.get(1).get("messages").toString())
        .isEqualTo(
            "[{\"role\":\"user\",\"content\":\"Hi\"},"
                + "{\"role\":\"assistant\",\"content\":\"Hello\"}]");
  }

  @Test
  void responsesAreDeterministicForASeed() throws Exception {
    Path file = instructions("det-responses");
    long[] seeds = {21, 21, 22};
    byte[][] files = new byte[3][];
    for (int k = 0; k < 3; k++) {
      JobSpec spec =
          RecipeSpecs.aSynthesis()
              .teacher(TINY)
              .seed(seeds[k])
              .dataset(
                  new DatasetSpec(
                      "file:" + file, "alpaca", "gemma", null, null, null, null, null, null))
              .generation(
                  new GenerationSpec(4, 8, 1.0, 1.0, null, null, null, GenerationSpec.RESPONSES))
              .build();
      RunResult r =
          Recipes.run(spec, new RunContext(tmp.resolve("det-resp-" + k), Map.of(), null, null));
      files[k] = Files.readAllBytes(r.lastCheckpoint().dir().resolve(SynthesisRecipe.DATA_FILE));
      assertThat(rows(r.lastCheckpoint().dir()))
          .extracting(n -> n.get("instruction").asString())
          .containsExactly("Hi", "Bye", "Yes", "Up");
    }
    assertThat(files[1]).isEqualTo(files[0]);
    assertThat(files[2]).isNotEqualTo(files[0]);
  }

  @Test
  void aStoppedResponsesRunResumesWithoutRedoingAnsweredRecords() throws Exception {
    Path file = instructions("resume-responses");
    JobSpec spec = respond(ModelRef.of("job:" + PARROT_ID), "file:" + file, "alpaca", 5, 200);
    Path dir = tmp.resolve("resume-responses-run");
    int[] checks = {0};
    StopSignal stop =
        () -> ++checks[0] > 2 ? Optional.of(StopSignal.Reason.PREEMPTED) : Optional.empty();
    RunResult first = Recipes.run(spec, new RunContext(dir, Map.of(PARROT_ID, parrot), null, stop));
    assertThat(first.outcome()).isNotEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(first.lastCheckpoint()).isNull();
    assertThat(first.metrics().get("samples_attempted")).isEqualTo(2.0);

    RecipeSpecs.Recorder rec = new RecipeSpecs.Recorder();
    RunResult second = Recipes.run(spec, new RunContext(dir, Map.of(PARROT_ID, parrot), rec, null));
    assertThat(second.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(rec.events).anyMatch(e -> e.startsWith("resumed: synthesize resumes after 2 of 4"));
    // every record was answered exactly once over both attempts
    List<String> log =
        Files.readAllLines(
            new RunContext(dir, Map.of(), null, null)
                .progressDir()
                .resolve(SynthesisRecipe.PROGRESS_FILE));
    List<Integer> answered = new ArrayList<>();
    for (String l : log.subList(1, log.size())) {
      answered.add(JSON.readTree(l).get("i").asInt());
    }
    assertThat(answered).containsExactly(0, 1, 2, 3);
    // and the file is the one an uninterrupted run writes
    RunResult whole =
        Recipes.run(
            spec,
            new RunContext(tmp.resolve("resume-whole"), Map.of(PARROT_ID, parrot), null, null));
    assertThat(Files.readAllBytes(second.lastCheckpoint().dir().resolve(SynthesisRecipe.DATA_FILE)))
        .isEqualTo(
            Files.readAllBytes(whole.lastCheckpoint().dir().resolve(SynthesisRecipe.DATA_FILE)));
  }

  @Test
  void aFinetuneAndADistillWithTheSameTeacherTrainOnTheResponses() throws Exception {
    Path file = instructions("for-training");
    RunResult synth =
        Recipes.run(
            respond(ModelRef.of("job:" + PARROT_ID), "file:" + file, "alpaca", 5, 200),
            new RunContext(tmp.resolve("resp-for-train"), Map.of(PARROT_ID, parrot), null, null));
    String synthId = UUID.randomUUID().toString();
    Map<String, Path> artifacts = Map.of(synthId, synth.lastCheckpoint().dir(), PARROT_ID, parrot);

    RecipeSpecs.Recorder ftRec = new RecipeSpecs.Recorder();
    RunResult ft =
        Recipes.run(
            finetuneOn(synthId), new RunContext(tmp.resolve("ft-on-resp"), artifacts, ftRec, null));
    assertThat(ft.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(ftRec.events).anyMatch(e -> e.contains("; 4 training and 0 validation sequences"));

    // the teacher scores its own text: its KL to a random student is finite and positive
    JobSpec distill =
        RecipeSpecs.aDistill()
            .teacher(ModelRef.of("job:" + PARROT_ID))
            .student(TINY)
            .dataset(RecipeSpecs.alpaca("job:" + synthId, true, 1L))
            .steps(1)
            .batch(2)
            .learningRate(1e-3)
            .checkpointEvery(1000)
            .keepCheckpoints(1)
            .build();
    RecipeSpecs.Recorder kdRec = new RecipeSpecs.Recorder();
    RunResult kd =
        Recipes.run(distill, new RunContext(tmp.resolve("kd-on-resp"), artifacts, kdRec, null));
    assertThat(kd.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(kdRec.steps).hasSize(1);
    assertThat(kdRec.steps.get(0).kd()).isFinite().isPositive();
  }

  @Test
  void aResponsesRecordWithoutAUserTurnIsRefusedNamingIt() throws Exception {
    Path file = tmp.resolve("no-user.jsonl");
    Files.writeString(
        file,
        """
        {"messages": [{"role": "user", "content": "Hi"}]}
        {"messages": [{"role": "system", "content": "Be brief."}]}
        """);
    assertThatThrownBy(
            () ->
                Recipes.run(
                    respond(TINY, "file:" + file, "chat", 1, 10),
                    new RunContext(tmp.resolve("no-user"), Map.of(), null, null)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("record 2 has no user turn");
  }
}
