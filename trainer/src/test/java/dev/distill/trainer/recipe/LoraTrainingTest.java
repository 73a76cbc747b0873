package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import dev.distill.spec.JobSpec;
import dev.distill.spec.JobType;
import dev.distill.spec.LoraSpec;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.model.gemma2.Gemma2Lora;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.optim.AdamW;
import dev.distill.trainer.safetensors.SafetensorsFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A LoRA run trains the adapters alone: the loss falls, the base weights come out bit for bit as
 * they went in (no gradient, no optimiser state), the checkpoint holds the adapter in PEFT's layout
 * beside a reference to the base, and a resumed run repeats the uninterrupted one.
 */
class LoraTrainingTest {

  private static final ModelRef TINY = ModelRef.of("builtin:gemma2-tiny");
  private static final LoraSpec LORA = new LoraSpec(4, 8.0, 0.0, null);

  @TempDir Path tmp;

  @ParameterizedTest
  @EnumSource(
      value = JobType.class,
      names = {"FINETUNE", "DISTILL"})
  void aLoraRunLowersTheLossWhileTheBaseStaysBitIdentical(JobType type) throws Exception {
    RecipeSpecs.Job job =
        type == JobType.DISTILL ? RecipeSpecs.aDistill().teacher(TINY) : RecipeSpecs.aFinetune();
    JobSpec spec =
        job.student(TINY).steps(12).batch(4).learningRate(1e-2).lora(LORA).evalEvery(0).build();
    RecipeSpecs.Recorder r = new RecipeSpecs.Recorder();
    Path run = tmp.resolve("run");
    try (TrainingRecipe recipe = new TrainingRecipe(spec, new RunContext(run, Map.of(), r, null))) {
      recipe.setup();
      Path baseDir = run.resolve("checkpoints").resolve(TrainingRecipe.LORA_BASE_DIR);
      byte[] before = Files.readAllBytes(baseDir.resolve("model.safetensors"));
      RunResult result = recipe.train();
      assertThat(result.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);

      // the loss falls
      Map<Long, Double> losses = r.losses();
      double firstThree = (losses.get(1L) + losses.get(2L) + losses.get(3L)) / 3;
      double lastThree = (losses.get(10L) + losses.get(11L) + losses.get(12L)) / 3;
      assertThat(lastThree).as("losses %s", losses).isLessThan(0.97 * firstThree);

      // the base: the same bytes, no gradient; the adapters alone train
      Gemma2Model student = recipe.studentModel();
      student.save(tmp.resolve("after"));
      assertThat(Files.readAllBytes(tmp.resolve("after").resolve("model.safetensors")))
          .as("base weights after training, byte for byte")
          .isEqualTo(before);
      for (var e : student.baseParameters().entrySet()) {
        assertThat(e.getValue().hasGradient()).as(e.getKey()).isFalse();
      }
      Set<String> adapters = student.parameters().keySet();
      assertThat(adapters).hasSize(2 * 7 * 2); // A and B of 7 projections in 2 layers
      assertThat(adapters).allMatch(n -> n.startsWith("base_model.model.model.layers."));
      NDArray b =
          student.parameters().get("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight");
      assertThat(b.abs().max().getFloat()).as("B moved off zero").isGreaterThan(0f);
      assertThat(r.events.get(0)).contains("(LoRA rank 4: 11,264 trainable)");

      // the checkpoint: PEFT's files and names, optimiser state of the adapters only
      Path ckpt = result.lastCheckpoint().dir();
      assertThat(ckpt.resolve(Gemma2Lora.CONFIG_FILE)).isRegularFile();
      assertThat(ckpt.resolve(Gemma2Lora.WEIGHTS_FILE)).isRegularFile();
      assertThat(ckpt.resolve("tokenizer.json")).isRegularFile();
      assertThat(ckpt.resolve("model.safetensors")).doesNotExist();
      JsonNode config = JsonMapper.builder().build().readTree(ckpt.resolve("adapter_config.json"));
      assertThat(config.get("peft_type").asString()).isEqualTo("LORA");
      assertThat(config.get("task_type").asString()).isEqualTo("CAUSAL_LM");
      assertThat(config.get("r").asInt()).isEqualTo(4);
      assertThat(config.get("lora_alpha").asInt()).isEqualTo(8);
      assertThat(config.get("base_model_name_or_path").asString())
          .isEqualTo(baseDir.toAbsolutePath().normalize().toString());
      try (SafetensorsFile f = SafetensorsFile.open(ckpt.resolve(Gemma2Lora.WEIGHTS_FILE))) {
        assertThat(new HashSet<>(f.names())).isEqualTo(adapters);
        assertThat(f.metadata()).containsEntry("format", "pt");
      }
      Set<String> expectedState = new HashSet<>();
      adapters.forEach(n -> expectedState.addAll(List.of(AdamW.EXP_AVG + n, AdamW.EXP_AVG_SQ + n)));
      try (SafetensorsFile f = SafetensorsFile.open(ckpt.resolve(TrainingRecipe.OPTIMIZER_FILE))) {
        assertThat(new HashSet<>(f.names())).isEqualTo(expectedState);
      }
    }
  }

  @Test
  void aResumedLoraRunWithDropoutRepeatsTheStraightRun() {
    int steps = 6;
    JobSpec spec =
        RecipeSpecs.aFinetune()
            .student(TINY)
            .steps(steps)
            .batch(4, 2)
            .learningRate(1e-2)
            .lora(new LoraSpec(4, 8.0, 0.2, List.of("q_proj", "v_proj", "down_proj")))
            .checkpointEvery(100)
            .evalEvery(0)
            .build();
    RecipeSpecs.Recorder straight = new RecipeSpecs.Recorder();
    Recipes.run(spec, new RunContext(tmp.resolve("straight"), Map.of(), straight, null));

    Path dir = tmp.resolve("interrupted");
    RecipeSpecs.Recorder first = new RecipeSpecs.Recorder();
    StopSignal halfway =
        () ->
            first.steps.size() >= steps / 2
                ? Optional.of(StopSignal.Reason.PREEMPTED)
                : Optional.empty();
    RunResult stopped = Recipes.run(spec, new RunContext(dir, Map.of(), first, halfway));
    assertThat(stopped.step()).isEqualTo(steps / 2);
    RecipeSpecs.Recorder second = new RecipeSpecs.Recorder();
    RunResult resumed = Recipes.run(spec, new RunContext(dir, Map.of(), second, null));
    assertThat(resumed.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(second.events).anyMatch(e -> e.startsWith("resumed"));
    assertThat(second.losses().keySet()).containsExactly(4L, 5L, 6L);
    for (long s = 1; s <= steps; s++) {
      double got = (s <= steps / 2 ? first : second).losses().get(s);
      assertThat(got).as("loss of step %d", s).isCloseTo(straight.losses().get(s), within(1e-6));
    }
    assertThat(straight.losses().get(6L)).isNotCloseTo(straight.losses().get(4L), within(1e-4));
  }

  @Test
  void aLoraRunsOutputTrainsOnAsAFullModelOrUnderNewAdapters() throws Exception {
    String id = "00000000-0000-0000-0000-00000000000a";
    ModelRef previous = ModelRef.of("job:" + id);
    RunResult first =
        Recipes.run(
            RecipeSpecs.aFinetune().student(TINY).steps(3).batch(4).lora(LORA).build(),
            new RunContext(tmp.resolve("first"), Map.of(), null, null));
    Map<String, Path> artifacts = Map.of(id, first.lastCheckpoint().dir());
    Path merged = tmp.resolve("merged");
    LoraMerge.merge(first.lastCheckpoint().dir(), null, merged);

    // without lora: the adapters are merged and every weight trains
    RunResult full =
        Recipes.run(
            RecipeSpecs.aFinetune().student(previous).steps(1).batch(4).build(),
            new RunContext(tmp.resolve("full"), artifacts, null, null));
    assertThat(full.lastCheckpoint().dir().resolve("model.safetensors")).isRegularFile();
    assertThat(full.lastCheckpoint().dir().resolve(Gemma2Lora.CONFIG_FILE)).doesNotExist();

    // with lora: new adapters over the merged model, written once as the new base
    RunResult again =
        Recipes.run(
            RecipeSpecs.aFinetune().student(previous).steps(1).batch(4).lora(LORA).build(),
            new RunContext(tmp.resolve("again"), artifacts, null, null));
    Path base = tmp.resolve("again/checkpoints").resolve(TrainingRecipe.LORA_BASE_DIR);
    assertThat(Gemma2Lora.baseOf(again.lastCheckpoint().dir())).isEqualTo(base);
    assertThat(Files.readAllBytes(base.resolve("model.safetensors")))
        .isEqualTo(Files.readAllBytes(merged.resolve("model.safetensors")));
  }
}
