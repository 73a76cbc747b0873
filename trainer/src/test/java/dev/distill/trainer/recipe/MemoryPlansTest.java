package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.spec.JobSpec;
import dev.distill.spec.SpecJson;
import dev.distill.spec.plan.MemoryPlan;
import dev.distill.spec.plan.Precision;
import dev.distill.trainer.model.gemma2.Gemma2Config;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The worker's check: a file: model is planned from its config.json before anything loads. */
class MemoryPlansTest {

  @Test
  void aFileModelTooLargeForTheWorkerIsRefusedNamingBothNumbers(@TempDir Path dir)
      throws Exception {
    Path model = Files.createDirectories(dir.resolve("gemma-2-9b"));
    Gemma2Config.preset("gemma2-9b").write(model.resolve("config.json")); // no weights at all
    JobSpec spec =
        SpecJson.mapper()
            .readValue(
                """
                {"type": "finetune", "student": "file:%s",
                 "dataset": {"uri": "builtin:procedural", "max_seq_len": 256}}
                """
                    .formatted(model),
                JobSpec.class);
    MemoryPlan plan = MemoryPlans.forSpec(spec, Precision.FP32, Map.of()).orElseThrow();
    assertThat(plan.inputs().student().parameterCount()).isEqualTo(9_241_705_984L);
    String reason = MemoryPlans.doesNotFit(spec, Map.of(), "cpu", 16_000L << 20).orElseThrow();
    assertThat(reason)
        .startsWith(String.format("memory plan needs %,d MiB (fp32, total of ", plan.totalMib()))
        .contains("but this worker has 16,000 MiB");
    assertThat(MemoryPlans.doesNotFit(spec, Map.of(), "cpu", plan.totalBytes())).isEmpty();
  }

  @Test
  void aSpecWithoutAPrecisionIsPlannedInItsDevicesDefault(@TempDir Path dir) throws Exception {
    Path model = Files.createDirectories(dir.resolve("gemma-2-9b"));
    Gemma2Config.preset("gemma2-9b").write(model.resolve("config.json"));
    JobSpec spec =
        SpecJson.mapper()
            .readValue(
                """
                {"type": "finetune", "student": "file:%s",
                 "dataset": {"uri": "builtin:procedural", "max_seq_len": 256}}
                """
                    .formatted(model),
                JobSpec.class);
    MemoryPlan fp32 = MemoryPlans.forSpec(spec, Precision.FP32, Map.of()).orElseThrow();
    MemoryPlan mixed = MemoryPlans.forSpec(spec, Precision.BF16_MIXED, Map.of()).orElseThrow();
    // on CUDA the trainer runs bf16-mixed, so a GPU with room for that plan takes the job even
    // though the fp32 plan (the CPU's default) would not fit it
    assertThat(mixed.totalBytes()).isLessThan(fp32.totalBytes());
    long between = (mixed.totalBytes() + fp32.totalBytes()) / 2;
    assertThat(MemoryPlans.doesNotFit(spec, Map.of(), "cuda", between)).isEmpty();
    assertThat(MemoryPlans.doesNotFit(spec, Map.of(), "cpu", between)).isPresent();
    assertThat(MemoryPlans.doesNotFit(spec, Map.of(), "cuda", 1).orElseThrow())
        .contains("(bf16-mixed, total of ");
  }

  @Test
  void aJobModelNotHandedOverIsNotPlanned() {
    JobSpec spec =
        SpecJson.mapper()
            .readValue(
                """
                {"type": "finetune", "student": "job:0b6e7d2a-1c7e-4c35-9d1e-5f5a3c1b2d4e",
                 "dataset": {"uri": "builtin:procedural"}}
                """,
                JobSpec.class);
    assertThat(MemoryPlans.doesNotFit(spec, Map.of(), "cpu", 1)).isEmpty();
  }

  @Test
  void theSpecsLoraCountIsTheAdaptersTheTrainerMakes() {
    for (String preset : java.util.List.of("gemma2-tiny", "gemma2-demo-student", "gemma2-9b")) {
      for (var lora :
          java.util.List.of(
              dev.distill.spec.LoraSpec.defaults(),
              new dev.distill.spec.LoraSpec(
                  16, 32.0, 0.0, java.util.List.of("o_proj", "down_proj", "k_proj")))) {
        Gemma2Config c = Gemma2Config.preset(preset);
        assertThat(c.shape().loraParameterCount(lora))
            .as(preset + " " + lora)
            .isEqualTo(dev.distill.trainer.model.gemma2.Gemma2Lora.parameterCount(c, lora));
      }
    }
  }

  @Test
  void aCachedDistillJobsStudentTakesTheCachesTokenizerAndTopK(@TempDir Path dir) throws Exception {
    // a sealed cache as the worker receives it: the manifest and the tokenizer's copy
    Path cache = Files.createDirectories(dir.resolve("cache"));
    Files.writeString(
        cache.resolve(dev.distill.trainer.cache.TeacherCache.MANIFEST),
        "{\"format\": \"distill-teacher-cache\", \"key\": {\"top_k\": 17}}");
    Path tokenizer = Files.createDirectories(cache.resolve(TeacherPassRecipe.TOKENIZER_DIR));
    dev.distill.trainer.tokenize.TokenizerFixtures.writeGpt2(tokenizer); // 50,257 ids
    String id = "7d3f3c4e-0000-4000-8000-000000000001";
    JobSpec spec =
        SpecJson.mapper()
            .readValue(
                """
                {"type": "distill", "teacher_logits": "job:%s", "student": "builtin:gemma2-tiny",
                 "dataset": {"uri": "builtin:procedural", "max_seq_len": 64}}
                """
                    .formatted(id),
                JobSpec.class);
    MemoryPlan plan = MemoryPlans.forSpec(spec, Precision.FP32, Map.of(id, cache)).orElseThrow();
    assertThat(plan.inputs().cacheTopK()).isEqualTo(17);
    assertThat(plan.inputs().teacher()).isNull();
    assertThat(plan.inputs().student().vocabSize()).isGreaterThanOrEqualTo(50_257);
    assertThat(plan.components().get(MemoryPlan.TEACHER_CACHE)).isPositive();
  }
}
