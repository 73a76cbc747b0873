package dev.distill.app.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.distill.spec.LoraSpec;
import dev.distill.trainer.model.NoGrad;
import dev.distill.trainer.model.gemma2.Gemma2Config;
import dev.distill.trainer.model.gemma2.Gemma2Lora;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code distill merge}: the merged directory computes what base plus adapter compute; bad
 * arguments end in one line and exit 1.
 */
class MergeCommandTest {

  @TempDir static Path dir;
  static float[] expected; // (1, 3, V) logits of base + adapter
  static Path base;
  static Path adapter;

  @BeforeAll
  static void saveABaseAndAnAdapter() {
    base = dir.resolve("base");
    adapter = dir.resolve("adapter");
    try (NDManager m = NDManager.newBaseManager();
        NoGrad ignored = NoGrad.enter();
        Gemma2Model model = Gemma2Model.init(Gemma2Config.preset("gemma2-tiny"), m, 3)) {
      model.save(base);
      Gemma2Lora lora =
          Gemma2Lora.init(
              model.config(),
              new LoraSpec(2, 4.0, 0.0, List.of("q_proj", "up_proj")),
              base.toString(),
              m,
              5);
      NDArray step = m.full(new Shape(), 0.05f);
      lora.parameters().values().forEach(p -> p.addi(step)); // B off zero, so the merge matters
      lora.save(adapter);
      model.attach(lora);
      expected =
          model.forward(m.create(new long[] {2, 17, 45}, new Shape(1, 3)), null).toFloatArray();
    }
  }

  @Test
  void theMergedModelComputesWhatBasePlusAdapterCompute() {
    Path out = dir.resolve("merged");
    LogitsCommandTest.Run r =
        LogitsCommandTest.run("merge", "--adapter", adapter.toString(), "-o", out.toString());
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).startsWith("merged 4 adapted projections (rank 2) into " + base);
    assertThat(out.resolve("config.json")).isRegularFile();
    assertThat(out.resolve("model.safetensors")).isRegularFile();
    try (NDManager m = NDManager.newBaseManager();
        NoGrad ignored = NoGrad.enter();
        Gemma2Model merged = Gemma2Model.load(out, m)) {
      float[] got =
          merged.forward(m.create(new long[] {2, 17, 45}, new Shape(1, 3)), null).toFloatArray();
      assertThat(got).hasSameSizeAs(expected);
      for (int i = 0; i < got.length; i++) {
        assertThat(Math.abs(got[i] - expected[i])).as("logit %d", i).isLessThan(1e-5f);
      }
    }
  }

  @Test
  void badArgumentsEndInOneLine() throws Exception {
    LogitsCommandTest.Run missing =
        LogitsCommandTest.run(
            "merge",
            "--adapter",
            dir.resolve("nothing").toString(),
            "-o",
            dir.resolve("x").toString());
    assertThat(missing.code()).isEqualTo(1);
    assertThat(missing.err().strip())
        .doesNotContain("\n")
        .startsWith("distill: ")
        .contains("adapter_config.json");

    Path full = Files.createDirectories(dir.resolve("full"));
    Files.writeString(full.resolve("keep.txt"), "x");
    LogitsCommandTest.Run notEmpty =
        LogitsCommandTest.run(
            "merge",
            "--adapter",
            adapter.toString(),
            "--base",
            base.toString(),
            "-o",
            full.toString());
    assertThat(notEmpty.code()).isEqualTo(1);
    assertThat(notEmpty.err().strip())
        .isEqualTo("distill: " + full + ": not empty (the merge writes a new model)");
  }
}
