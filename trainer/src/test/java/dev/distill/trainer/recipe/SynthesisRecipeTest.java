package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distill.spec.DatasetSpec;
import dev.distill.spec.GenerationSpec;
import dev.distill.spec.Hyperparameters;
import dev.distill.spec.JobSpec;
import dev.distill.spec.JobType;
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
    DatasetSpec ds =
        new DatasetSpec(
            "file:" + data.toAbsolutePath(), "alpaca", "gemma", 64, 0.0, false, null, null, 7L);
    RunResult r =
        Recipes.run(
            RecipeSpecs.finetune(TINY, ds, RecipeSpecs.hp(120, 8, 8, 1e-2, 1000, 1, 0)),
            new RunContext(tmp.resolve("parrot-job"), Map.of(), null, null));
    assertThat(r.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    parrot = r.lastCheckpoint().dir();
  }

  static Hyperparameters seeded(long seed) {
    return new Hyperparameters(
        null, null, null, null, null, null, null, null, null, null, null, null, null, null, seed,
        null, null, null, null);
  }

  static JobSpec synthesize(ModelRef teacher, long seed, GenerationSpec gen) {
    return new JobSpec(
        JobType.SYNTHESIZE, teacher, null, null, seeded(seed), gen, null, null, null, null);
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
    // progress after every PROGRESS_EVERY samples and at the end
    assertThat(rec.evals).containsOnlyKeys(10L, 12L);
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
    DatasetSpec ds =
        new DatasetSpec("job:" + synthId, "alpaca", "gemma", 64, 0.0, null, null, null, 1L);
    RecipeSpecs.Recorder rec = new RecipeSpecs.Recorder();
    RunResult ft =
        Recipes.run(
            RecipeSpecs.finetune(TINY, ds, RecipeSpecs.hp(1, 1, 1, 1e-3, 1000, 1, 0)),
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
    DatasetSpec ds = new DatasetSpec("job:" + id, "alpaca", "gemma", 64, 0.0, null, null, null, 1L);
    JobSpec spec = RecipeSpecs.finetune(TINY, ds, RecipeSpecs.hp(1, 1, 1, 1e-3, 1000, 1, 0));
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
}
