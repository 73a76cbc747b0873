package dev.distill.app.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.json.JsonMapper;

/** {@code distill plan}: issue 11's JSON keys and sums, a table, one-line errors. */
class PlanCommandTest {

  private static Path example(String name) {
    return ExamplesTest.examples().resolve("plan").resolve(name);
  }

  @Test
  @SuppressWarnings("unchecked")
  void theJsonHasComponentsTotalDeviceAndFits() {
    LogitsCommandTest.Run fp32 =
        LogitsCommandTest.run(
            "plan",
            example("distill-27b-to-2b.json").toString(),
            "--device-memory-gib",
            "140",
            "--precision",
            "fp32",
            "-o",
            "json");
    assertThat(fp32.code()).as(fp32.err()).isZero();
    Map<String, Object> json = JsonMapper.builder().build().readValue(fp32.out(), Map.class);
    assertThat(json).containsKeys("components", "total_bytes", "device_memory_bytes", "fits");
    Map<String, Number> c = (Map<String, Number>) json.get("components");
    assertThat(c.get("teacher_weights").longValue()).isEqualTo(27_227_128_320L * 4);
    long sum = c.values().stream().mapToLong(Number::longValue).sum();
    assertThat(((Number) json.get("total_bytes")).longValue()).isEqualTo(sum);
    assertThat(((Number) json.get("device_memory_bytes")).longValue()).isEqualTo(140L << 30);
    assertThat(json.get("fits")).isEqualTo(false);
    // the spec asks for cuda: bf16-mixed by default, and the 27B teacher in bf16 fits
    LogitsCommandTest.Run mixed =
        LogitsCommandTest.run(
            "plan",
            example("distill-27b-to-2b.json").toString(),
            "--device-memory-gib",
            "140",
            "-o",
            "json");
    Map<String, Object> m = JsonMapper.builder().build().readValue(mixed.out(), Map.class);
    assertThat(m.get("fits")).isEqualTo(true);
  }

  @Test
  @SuppressWarnings("unchecked")
  void aLoraStudentIsPlannedAsAFrozenBaseWithTrainedAdapters() {
    LogitsCommandTest.Run r =
        LogitsCommandTest.run(
            "plan",
            example("lora-9b-with-27b-teacher.json").toString(),
            "--device-memory-gib",
            "140",
            "-o",
            "json");
    assertThat(r.code()).as(r.err()).isZero();
    Map<String, Object> json = JsonMapper.builder().build().readValue(r.out(), Map.class);
    Map<String, Number> c = (Map<String, Number>) json.get("components");
    Map<String, Object> in = (Map<String, Object>) json.get("inputs");
    // rank 16 on all seven projections of gemma2-9b: 54,018,048 adapter values (docs/lora.md)
    assertThat(((Number) in.get("trainable_parameters")).longValue()).isEqualTo(54_018_048L);
    assertThat(in.get("lora_rank")).isEqualTo(16);
    // bf16-mixed: the frozen base's matrices in bf16 and its norms in fp32; the adapters fp32
    // (their own masters), with gradients and AdamW
    assertThat(c.get("student_weights").longValue())
        .isEqualTo((9_241_705_984L - 605_696L) * 2 + 605_696L * 4);
    assertThat(c.get("master_weights").longValue()).isEqualTo(54_018_048L * 4);
    assertThat(c.get("gradients").longValue()).isEqualTo(54_018_048L * 4);
    assertThat(c.get("optimizer_state").longValue()).isEqualTo(54_018_048L * 8);
    assertThat(json.get("fits")).isEqualTo(true);
    LogitsCommandTest.Run table =
        LogitsCommandTest.run("plan", example("lora-9b-with-27b-teacher.json").toString());
    assertThat(table.out())
        .contains("LoRA rank 16 on q_proj, k_proj")
        .contains("54,018,048 trained");
  }

  @Test
  void theTableNamesEveryComponent() {
    LogitsCommandTest.Run r = LogitsCommandTest.run("plan", example("finetune-2b.json").toString());
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out())
        .contains("student_weights", "gradients", "optimizer_state", "activations", "total")
        .contains("activations: ");
  }

  @Test
  void pureBf16IsTwoBytesOfWeightsAndEightOfMomentsAlwaysCheckpointed() {
    LogitsCommandTest.Run r =
        LogitsCommandTest.run(
            "plan", example("finetune-2b.json").toString(), "--precision", "bf16", "-o", "json");
    assertThat(r.code()).as(r.err()).isZero();
    // 2,614,341,888 parameters: 2 bytes of weights, 8 of AdamW's moments
    assertThat(r.out())
        .contains("\"student_weights\":5228683776")
        .contains("\"optimizer_state\":20914735104")
        .contains("\"precision\":\"bf16\"")
        .contains("\"activation_checkpointing\":true");
    LogitsCommandTest.Run table =
        LogitsCommandTest.run(
            "plan", example("finetune-2b.json").toString(), "--precision", "bf16");
    assertThat(table.out())
        .contains("precision bf16, micro-batch 2 x 2048 tokens, activation checkpointing on");
  }

  @Test
  void aFileModelIsPlannedFromItsConfigJson(@TempDir Path dir) throws Exception {
    Path model = Files.createDirectories(dir.resolve("m"));
    dev.distill.trainer.model.gemma2.Gemma2Config.preset("gemma2-9b")
        .write(model.resolve("config.json"));
    Path spec = dir.resolve("spec.json");
    Files.writeString(
        spec,
        """
        {"type": "finetune", "student": "file:%s",
         "dataset": {"uri": "builtin:procedural", "max_seq_len": 256}}
        """
            .formatted(model));
    LogitsCommandTest.Run r = LogitsCommandTest.run("plan", spec.toString(), "-o", "json");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).contains("\"student_parameters\":9241705984");
  }

  @Test
  void badOptionsAreOneLine() {
    LogitsCommandTest.Run r =
        LogitsCommandTest.run("plan", example("finetune-2b.json").toString(), "-o", "xml");
    assertThat(r.code()).isNotZero();
    assertThat(r.err().strip()).isEqualTo("distill: -o must be table or json, was 'xml'");
  }
}
