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
    String reason = MemoryPlans.doesNotFit(spec, Map.of(), 16_000L << 20).orElseThrow();
    assertThat(reason)
        .startsWith(String.format("memory plan needs %,d MiB (fp32, total of ", plan.totalMib()))
        .contains("but this worker has 16,000 MiB");
    assertThat(MemoryPlans.doesNotFit(spec, Map.of(), plan.totalBytes())).isEmpty();
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
    assertThat(MemoryPlans.doesNotFit(spec, Map.of(), 1)).isEmpty();
  }
}
