package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import dev.distill.spec.JobSpec;
import dev.distill.spec.LoraSpec;
import dev.distill.spec.ModelRef;
import dev.distill.spec.plan.MemoryPlan;
import dev.distill.spec.plan.Precision;
import dev.distill.trainer.model.gemma2.Gemma2Lora;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.model.gemma2.Gemma2WeightNames;
import dev.distill.trainer.safetensors.SafetensorsDtype;
import dev.distill.trainer.safetensors.SafetensorsFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * A LoRA student's frozen base under bf16-mixed is held as the teacher is: its matrices as bf16
 * bits (2 bytes), its norms fp32, no fp32 copy; the adapters stay fp32 and train through the bf16
 * products. The memory plan counts exactly what is held.
 */
class LoraBf16BaseTest {

  private static final ModelRef TINY = ModelRef.of("builtin:gemma2-tiny");
  private static final LoraSpec LORA = new LoraSpec(4, 8.0, 0.0, null);

  /**
   * bf16-mixed LoRA against fp32 LoRA after {@link #STEPS} steps: the mean loss of the last five
   * steps within this fraction (seen: 0.01%). The base's products already ran in bf16 before (its
   * fp32 weights were cast inside each product); what the 2-byte base adds is the bf16 rounding of
   * the embedding rows; against fp32 there is also bf16's unit (2^-8) on every product.
   */
  static final double FP32_TOLERANCE = 0.005;

  private static final int STEPS = 24;

  @TempDir Path tmp;

  private static JobSpec spec(String precision, int steps) {
    return job(precision, steps).build();
  }

  private static RecipeSpecs.Job job(String precision, int steps) {
    return RecipeSpecs.aFinetune()
        .student(TINY)
        .steps(steps)
        .batch(4)
        .learningRate(1e-2)
        .precision(precision)
        .lora(LORA)
        .checkpointEvery(100)
        .evalEvery(0);
  }

  /** Bytes of the adapters (fp32). */
  private static long adapterBytes(Gemma2Model m) {
    long bytes = 0;
    for (NDArray p : m.parameters().values()) {
      assertThat(p.getDataType()).isEqualTo(DataType.FLOAT32);
      bytes += p.size() * 4;
    }
    return bytes;
  }

  @Test
  void theBaseTakesHalfTheBytesOfFp32AndThePlanCountsWhatIsHeld() {
    try (TrainingRecipe fp32 =
            new TrainingRecipe(
                spec("fp32", 1), new RunContext(tmp.resolve("fp32"), Map.of(), null, null));
        TrainingRecipe mixed =
            new TrainingRecipe(
                spec("bf16-mixed", 1),
                new RunContext(tmp.resolve("mixed"), Map.of(), null, null))) {
      fp32.setup();
      mixed.setup();
      Gemma2Model a = fp32.studentModel();
      Gemma2Model b = mixed.studentModel();
      long normBytes = 0;
      for (var e : b.baseParameters().entrySet()) {
        NDArray p = e.getValue();
        assertThat(p.hasGradient()).as(e.getKey()).isFalse();
        if (Gemma2WeightNames.isNorm(e.getKey())) {
          assertThat(p.getDataType()).as(e.getKey()).isEqualTo(DataType.FLOAT32);
          normBytes += p.size() * 4;
        } else {
          // the bf16 bits as int8 pairs, never an fp32 copy
          assertThat(p.getDataType()).as(e.getKey()).isEqualTo(DataType.INT8);
        }
      }
      assertThat(a.baseParameters().values())
          .allMatch(p -> p.getDataType() == DataType.FLOAT32); // fp32 LoRA: as before
      assertThat(b.parameterBytes() - normBytes).isEqualTo((a.parameterBytes() - normBytes) / 2);
      assertThat((double) b.parameterBytes() / a.parameterBytes()).isLessThan(0.51);
      assertThat(adapterBytes(b)).isEqualTo(adapterBytes(a));

      // the plan: the base's weights and the adapters' (masters in bf16-mixed), to the byte
      for (var run : Map.of(Precision.FP32, fp32, Precision.BF16_MIXED, mixed).entrySet()) {
        Gemma2Model m = run.getValue().studentModel();
        MemoryPlan plan =
            MemoryPlans.forSpec(spec(run.getKey().json(), 1), run.getKey(), Map.of()).orElseThrow();
        long planned =
            plan.components().get(MemoryPlan.STUDENT_WEIGHTS)
                + plan.components().get(MemoryPlan.MASTER_WEIGHTS);
        assertThat(planned)
            .as("%s: student_weights + master_weights of %s", run.getKey(), plan.components())
            .isEqualTo(m.parameterBytes() + adapterBytes(m));
        assertThat(plan.components().get(MemoryPlan.GRADIENTS)).isEqualTo(adapterBytes(m));
      }
    }
  }

  @Test
  void aBf16MixedLoraRunLowersTheLossKeepsTheBaseBitsAndEndsNearFp32() throws Exception {
    RecipeSpecs.Recorder fp32 = new RecipeSpecs.Recorder();
    Recipes.run(spec("fp32", STEPS), new RunContext(tmp.resolve("fp32"), Map.of(), fp32, null));

    RecipeSpecs.Recorder r = new RecipeSpecs.Recorder();
    Path run = tmp.resolve("mixed");
    try (TrainingRecipe recipe =
        new TrainingRecipe(spec("bf16-mixed", STEPS), new RunContext(run, Map.of(), r, null))) {
      recipe.setup();
      Path baseDir = run.resolve("checkpoints").resolve(TrainingRecipe.LORA_BASE_DIR);
      byte[] before = Files.readAllBytes(baseDir.resolve("model.safetensors"));
      RunResult result = recipe.train();
      assertThat(result.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);

      Map<Long, Double> losses = r.losses();
      double first = (losses.get(1L) + losses.get(2L) + losses.get(3L)) / 3;
      double last = lastFive(losses);
      double want = lastFive(fp32.losses());
      System.out.println("fp32 losses " + fp32.losses() + "\nbf16-mixed losses " + losses);
      System.out.printf(
          "LoRA last-5 loss: fp32 %.5f bf16-mixed %.5f (%.3f%%), first-3 %.5f%n",
          want, last, 100 * Math.abs(last - want) / want, first);
      assertThat(last).as("losses %s", losses).isLessThan(0.97 * first);
      assertThat(last).isCloseTo(want, within(FP32_TOLERANCE * want));
      assertThat(last).as("bf16 is not fp32 in disguise").isNotEqualTo(want);

      // the base: written once as the bits it is held in (BF16 matrices, F32 norms), unchanged
      Gemma2Model student = recipe.studentModel();
      student.save(tmp.resolve("after"));
      assertThat(Files.readAllBytes(tmp.resolve("after").resolve("model.safetensors")))
          .as("base weights after training, byte for byte")
          .isEqualTo(before);
      try (SafetensorsFile f = SafetensorsFile.open(baseDir.resolve("model.safetensors"))) {
        for (String name : f.names()) {
          assertThat(f.tensors().get(name).dtype())
              .as(name)
              .isEqualTo(
                  Gemma2WeightNames.isNorm(name) ? SafetensorsDtype.F32 : SafetensorsDtype.BF16);
        }
      }
      assertThat(r.events)
          .anyMatch(
              e ->
                  e.startsWith("precision: precision bf16-mixed")
                      && e.contains(
                          String.format(
                              "frozen student base %,d bytes in memory",
                              student.parameterBytes())));
    }
  }

  private static double lastFive(Map<Long, Double> losses) {
    double sum = 0;
    for (long s = STEPS - 4; s <= STEPS; s++) {
      sum += losses.get(s);
    }
    return sum / 5;
  }

  @Test
  void aResumedBf16MixedLoraRunRepeatsTheStraightRunAndExportsThePeftAdapterAsFp32Does()
      throws Exception {
    int steps = 6;
    JobSpec spec = spec("bf16-mixed", steps);
    RecipeSpecs.Recorder straight = new RecipeSpecs.Recorder();
    RunResult whole =
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
    long resumedBaseBytes;
    RunResult resumed;
    try (TrainingRecipe recipe =
        new TrainingRecipe(spec, new RunContext(dir, Map.of(), second, null))) {
      recipe.setup();
      // the resumed student's base is held in 2 bytes too, not read back as fp32
      resumedBaseBytes = recipe.studentModel().parameterBytes();
      assertThat(recipe.studentModel().baseParameters().get(Gemma2WeightNames.EMBED).getDataType())
          .isEqualTo(DataType.INT8);
      resumed = recipe.train();
    }
    assertThat(resumed.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(second.events).anyMatch(e -> e.startsWith("resumed"));
    assertThat(second.events)
        .anyMatch(
            e -> e.contains(String.format("frozen student base %,d bytes", resumedBaseBytes)));
    for (long s = 1; s <= steps; s++) {
      double got = (s <= steps / 2 ? first : second).losses().get(s);
      assertThat(got).as("loss of step %d", s).isCloseTo(straight.losses().get(s), within(1e-6));
    }
    Path a = whole.lastCheckpoint().dir();
    Path b = resumed.lastCheckpoint().dir();
    assertThat(Files.readAllBytes(b.resolve(Gemma2Lora.WEIGHTS_FILE)))
        .as("the resumed run's adapters, byte for byte")
        .isEqualTo(Files.readAllBytes(a.resolve(Gemma2Lora.WEIGHTS_FILE)));

    // the PEFT export: the same files, config, names, shapes and dtypes as an fp32 LoRA run's
    RunResult fp32 =
        Recipes.run(spec("fp32", steps), new RunContext(tmp.resolve("fp32"), Map.of(), null, null));
    Path c = fp32.lastCheckpoint().dir();
    assertThat(fileNames(a)).isEqualTo(fileNames(c));
    assertThat(withoutBase(a)).isEqualTo(withoutBase(c));
    try (SafetensorsFile mixedAdapter = SafetensorsFile.open(a.resolve(Gemma2Lora.WEIGHTS_FILE));
        SafetensorsFile fp32Adapter = SafetensorsFile.open(c.resolve(Gemma2Lora.WEIGHTS_FILE))) {
      assertThat(mixedAdapter.names()).isEqualTo(fp32Adapter.names());
      assertThat(mixedAdapter.metadata()).isEqualTo(fp32Adapter.metadata());
      for (String name : fp32Adapter.names()) {
        assertThat(mixedAdapter.tensors().get(name).dtype()).isEqualTo(SafetensorsDtype.F32);
        assertThat(mixedAdapter.tensors().get(name).shape())
            .as(name)
            .isEqualTo(fp32Adapter.tensors().get(name).shape());
      }
    }
    // and distill merge folds it into its (bf16) base as any adapter
    Path merged = tmp.resolve("merged");
    LoraMerge.merge(a, null, merged);
    assertThat(merged.resolve("model.safetensors")).isRegularFile();
  }

  /**
   * Activation checkpointing on a LoRA student (fp32 or a bf16 base): the recompute runs the same
   * ops on the same weights, so the losses equal the plain run's; the frozen embedding has no graph
   * to back-propagate into (before, every checkpointed LoRA run failed there).
   */
  @ParameterizedTest
  @ValueSource(strings = {"fp32", "bf16-mixed"})
  void aCheckpointedLoraRunRepeatsThePlainOne(String precision) {
    RecipeSpecs.Recorder plain = new RecipeSpecs.Recorder();
    RecipeSpecs.Recorder ckpt = new RecipeSpecs.Recorder();
    Recipes.run(spec(precision, 3), new RunContext(tmp.resolve("plain"), Map.of(), plain, null));
    JobSpec checkpointed = job(precision, 3).activationCheckpointing(true).build();
    Recipes.run(checkpointed, new RunContext(tmp.resolve("ckpt"), Map.of(), ckpt, null));
    for (long s = 1; s <= 3; s++) {
      assertThat(ckpt.losses().get(s))
          .as("loss of step %d", s)
          .isCloseTo(plain.losses().get(s), within(1e-6));
    }
  }

  private static java.util.Set<String> fileNames(Path dir) throws Exception {
    try (var s = Files.list(dir)) {
      return new java.util.TreeSet<>(s.map(p -> p.getFileName().toString()).toList());
    }
  }

  /** adapter_config.json without base_model_name_or_path (each run's own directory). */
  private static JsonNode withoutBase(Path dir) throws Exception {
    JsonNode json =
        JsonMapper.builder().build().readTree(dir.resolve(Gemma2Lora.CONFIG_FILE).toFile());
    ((ObjectNode) json).remove("base_model_name_or_path");
    return json;
  }
}
