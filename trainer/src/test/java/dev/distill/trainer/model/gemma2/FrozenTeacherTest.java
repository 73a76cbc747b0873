package dev.distill.trainer.model.gemma2;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.distill.spec.plan.Precision;
import dev.distill.trainer.model.NoGrad;
import dev.distill.trainer.safetensors.SafetensorsCheckpoint;
import dev.distill.trainer.safetensors.SafetensorsDtype;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A teacher from a sharded BF16 checkpoint held frozen in 2 bytes per weight: half the bytes of
 * fp32, no gradients, logits equal to fp32 ones when it computes in fp32 and within bf16 rounding
 * when it computes in bf16.
 */
class FrozenTeacherTest {

  /**
   * bf16 has 8 significant bits (unit 2^-8 = 3.9e-3 relative): products of bf16 inputs with fp32
   * accumulation, through 2 layers and a final soft-cap of 30, stay within this of the fp32 logits.
   */
  static final double BF16_LOGIT_TOLERANCE = 0.05;

  private static Gemma2Config config() {
    return Gemma2Config.preset("gemma2-tiny").withOverrides(Map.of("vocab_size", 256));
  }

  @Test
  void aBf16TeacherTakesHalfTheBytesAndMatchesTheFp32One(@TempDir Path dir) throws Exception {
    try (NDManager m = NDManager.newBaseManager()) {
      Path bf16Dir = dir.resolve("bf16");
      try (Gemma2Model written = Gemma2Model.init(config(), m, 7)) {
        written.save(bf16Dir, SafetensorsDtype.BF16, 64 * 1024); // sharded
      }
      assertThat(bf16Dir.resolve(SafetensorsCheckpoint.INDEX_FILE)).exists();
      long[] ids = new long[2 * 24];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = (i * 37 + 11) % 256;
      }
      try (Gemma2Model fp32 = Gemma2Model.load(bf16Dir, m); // expanded to fp32, as before
          Gemma2Model frozen = Gemma2Model.loadFrozen(bf16Dir, m, Precision.FP32);
          Gemma2Model frozenLow = Gemma2Model.loadFrozen(bf16Dir, m, Precision.BF16_MIXED);
          NoGrad ignored = NoGrad.enter()) {
        long normBytes = 0;
        for (var e : fp32.parameters().entrySet()) {
          if (Gemma2WeightNames.isNorm(e.getKey())) {
            normBytes += e.getValue().size() * 4;
          }
        }
        // matrices: 2 bytes per weight instead of 4; norms (a few vectors) stay fp32
        assertThat(frozen.parameterBytes() - normBytes)
            .isEqualTo((fp32.parameterBytes() - normBytes) / 2);
        assertThat((double) frozen.parameterBytes() / fp32.parameterBytes())
            .as("norms are %d of %d bytes", normBytes, fp32.parameterBytes())
            .isLessThan(0.51);
        NDArray embed = frozen.parameters().get(Gemma2WeightNames.EMBED);
        assertThat(embed.getDataType()).isEqualTo(DataType.INT8); // the bf16 bits, never fp32
        assertThat(embed.getShape()).isEqualTo(new Shape(256, 2 * 64));
        assertThat(frozen.parameters().values()).noneMatch(NDArray::hasGradient);

        NDArray x = m.create(ids, new Shape(2, 24));
        float[] want = fp32.forward(x, null).toFloatArray(); // (2, 24, 256)
        float[] exact = frozen.forward(x, null).toFloatArray();
        float[] low = frozenLow.forward(x, null).toFloatArray();
        assertThat(exact).as("fp32 compute on the upcast weights: bit for bit").isEqualTo(want);
        double maxDiff = 0;
        double maxAbs = 0;
        for (int i = 0; i < want.length; i++) {
          maxDiff = Math.max(maxDiff, Math.abs(low[i] - want[i]));
          maxAbs = Math.max(maxAbs, Math.abs(want[i]));
        }
        assertThat(maxDiff)
            .as("bf16 compute: max |diff| against fp32 logits up to %.3f", maxAbs)
            .isLessThan(BF16_LOGIT_TOLERANCE)
            .isGreaterThan(0.0);
      }
    }
  }

  @Test
  void anF32CheckpointStaysFp32(@TempDir Path dir) throws Exception {
    try (NDManager m = NDManager.newBaseManager()) {
      try (Gemma2Model written = Gemma2Model.init(config(), m, 7)) {
        written.save(dir);
      }
      try (Gemma2Model frozen = Gemma2Model.loadFrozen(dir, m, Precision.FP32);
          Gemma2Model plain = Gemma2Model.load(dir, m)) {
        assertThat(frozen.parameterBytes()).isEqualTo(plain.parameterBytes());
        assertThat(frozen.parameters().values()).noneMatch(NDArray::hasGradient);
        assertThat(Files.size(dir.resolve("model.safetensors")))
            .isGreaterThan(frozen.parameterBytes());
      }
    }
  }

  @Test
  void anF32CheckpointUnderBf16MixedIsHeldInTwoBytesWithTheSameLogits(@TempDir Path dir)
      throws Exception {
    try (NDManager m = NDManager.newBaseManager()) {
      Path f32Dir = dir.resolve("f32");
      Path bf16Dir = dir.resolve("bf16");
      try (Gemma2Model written = Gemma2Model.init(config(), m, 7)) {
        written.save(f32Dir);
        written.save(bf16Dir, SafetensorsDtype.BF16, 64 * 1024);
      }
      long[] ids = new long[2 * 24];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = (i * 37 + 11) % 256;
      }
      try (Gemma2Model fromF32 = Gemma2Model.loadFrozen(f32Dir, m, Precision.BF16_MIXED);
          Gemma2Model fromBf16 = Gemma2Model.loadFrozen(bf16Dir, m, Precision.BF16_MIXED);
          NoGrad ignored = NoGrad.enter()) {
        // what the plan counts for a teacher: 2 bytes per matrix weight, as a BF16 checkpoint
        assertThat(fromF32.parameterBytes()).isEqualTo(fromBf16.parameterBytes());
        assertThat(fromF32.parameters().get(Gemma2WeightNames.EMBED).getDataType())
            .isEqualTo(DataType.INT8);
        NDArray x = m.create(ids, new Shape(2, 24));
        // rounding once to nearest-even bf16 is what BF16 saving does: the same bits, the same
        // bf16 products, so the same logits
        assertThat(fromF32.forward(x, null).toFloatArray())
            .isEqualTo(fromBf16.forward(x, null).toFloatArray());
      }
    }
  }
}
