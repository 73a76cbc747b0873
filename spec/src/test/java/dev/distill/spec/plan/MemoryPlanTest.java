package dev.distill.spec.plan;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.spec.LoraSpec;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The plan's arithmetic on hand-computed cases, and issue 11's sums at the mission's sizes. */
class MemoryPlanTest {

  private static final long GIB = 1L << 30;

  /** nvidia-smi's total of an H200: 143,771 MiB (the "141 GB" of the issue). */
  private static final long H200 = 143_771L << 20;

  private static PlanInputs distill(
      ModelShape teacher, ModelShape student, Precision p, int b, int t, boolean ckpt) {
    return new PlanInputs(
        student,
        teacher,
        true,
        p,
        b,
        t,
        ckpt,
        PlanInputs.lossChunk(null, Math.max(teacher.vocabSize(), student.vocabSize())));
  }

  @Test
  void parameterCountsAreGemma2s() {
    // Hugging Face google/gemma-2-*: 2,614,341,888 / 9,241,705,984 / 27,227,128,320 parameters
    assertThat(ModelShape.preset("gemma2-2b").parameterCount()).isEqualTo(2_614_341_888L);
    assertThat(ModelShape.preset("gemma2-9b").parameterCount()).isEqualTo(9_241_705_984L);
    assertThat(ModelShape.preset("gemma2-27b").parameterCount()).isEqualTo(27_227_128_320L);
  }

  @Test
  void a27bFp32TeacherWithAnFp32AdamWStudentDoesNotFitAnH200AndABf16TeacherDoes() {
    ModelShape t = ModelShape.preset("gemma2-27b");
    ModelShape s = ModelShape.preset("gemma2-2b");
    MemoryPlan fp32 = MemoryPlan.of(distill(t, s, Precision.FP32, 1, 2048, true)).onDevice(H200);
    // 27.2e9 x 4 = 108.9 GB of teacher; 2.6e9 x (4 + 4 + 8) = 41.8 GB of student
    assertThat(fp32.components().get(MemoryPlan.TEACHER_WEIGHTS)).isEqualTo(27_227_128_320L * 4);
    long student =
        fp32.components().get(MemoryPlan.STUDENT_WEIGHTS)
            + fp32.components().get(MemoryPlan.GRADIENTS)
            + fp32.components().get(MemoryPlan.OPTIMIZER_STATE);
    assertThat(student).isEqualTo(2_614_341_888L * 16);
    assertThat(fp32.fits()).isFalse();
    // the same job with the teacher held in bf16 (54 GB) and the student in fp32 master weights
    MemoryPlan mixed =
        MemoryPlan.of(distill(t, s, Precision.BF16_MIXED, 1, 2048, true)).onDevice(H200);
    // matrices in bf16, the norms (46 layers x 4 x 4608 + the final 4608 = 852,480) in fp32
    assertThat(mixed.components().get(MemoryPlan.TEACHER_WEIGHTS))
        .isEqualTo((27_227_128_320L - 852_480L) * 2 + 852_480L * 4);
    assertThat(mixed.fits()).isTrue();
    assertThat(mixed.totalBytes()).isLessThan(100 * GIB);
  }

  @Test
  void componentsSumToTheTotalInTheirOrder() {
    MemoryPlan p =
        MemoryPlan.of(
            distill(
                ModelShape.preset("gemma2-9b"),
                ModelShape.preset("gemma2-2b"),
                Precision.BF16_MIXED,
                2,
                1024,
                false));
    assertThat(p.components().keySet())
        .containsExactly(
            "teacher_weights",
            "teacher_cache",
            "student_weights",
            "master_weights",
            "gradients",
            "optimizer_state",
            "activations",
            "loss_chunk",
            "workspace");
    assertThat(p.components().values().stream().mapToLong(Long::longValue).sum())
        .isEqualTo(p.totalBytes());
    assertThat(p.components().get(MemoryPlan.ACTIVATIONS)).isEqualTo(p.activationsFullBytes());
  }

  @Test
  void activationsOfATinyShapeByHand() {
    // V 10, D 4, I 8, 2 layers, H 2, KV 1, hd 2, soft-cap on; B 1, T 3; fp32
    ModelShape s = new ModelShape(10, 4, 8, 2, 2, 1, 2, true);
    PlanInputs in = new PlanInputs(s, null, true, Precision.FP32, 1, 3, false, 16);
    // per layer: 3 tokens x (10 D + 2 H hd + 2 KV hd + 4 I) = 3 x (40 + 8 + 4 + 32) = 252 values,
    // plus (B H T T) = 18 values each of softmax and tanh = 36: 288 values, 1152 bytes
    assertThat(MemoryPlan.layerSavedBytes(s, in, Precision.FP32)).isEqualTo(1152);
    // 2 layers + 5 (B, T, D) of the head (60 values, 240 bytes) + masks 5 x 9 x 4 = 180 bytes
    assertThat(MemoryPlan.trainingActivations(in, false)).isEqualTo(2 * 1152 + 240 + 180);
    // checkpointed: 2 layer inputs (12 values each, 96 bytes) + one layer + head + masks
    assertThat(MemoryPlan.trainingActivations(in, true)).isEqualTo(96 + 1152 + 240 + 180);
    // the loss chunk: min(16, 3) tokens x V 10 x 4 bytes x 8 arrays
    assertThat(MemoryPlan.lossChunkBytes(in)).isEqualTo(3 * 10 * 4 * 8);
    // params: V D 40 + 2 x (q 16 + k, v 16 + o 16 + mlp 96 + norms 16) + 4 = 364; fp32 AdamW: 16
    // bytes each
    assertThat(s.parameterCount()).isEqualTo(364);
    MemoryPlan p = MemoryPlan.of(in);
    assertThat(p.components().get(MemoryPlan.STUDENT_WEIGHTS)).isEqualTo(364 * 4);
    assertThat(p.components().get(MemoryPlan.GRADIENTS)).isEqualTo(364 * 4);
    assertThat(p.components().get(MemoryPlan.OPTIMIZER_STATE)).isEqualTo(364 * 8);
    assertThat(p.components().get(MemoryPlan.MASTER_WEIGHTS)).isZero();
  }

  @Test
  void aLoraStudentTrainsItsAdaptersAloneOnAFrozenBaseByHand() {
    // the tiny shape above; rank 2 on q_proj (in D 4, out H hd 4) and down_proj (in I 8, out D 4)
    ModelShape s = new ModelShape(10, 4, 8, 2, 2, 1, 2, true);
    LoraSpec lora = new LoraSpec(2, 4.0, 0.0, List.of("q_proj", "down_proj"));
    // per layer 2 x (4 + 4) + 2 x (8 + 4) = 40; 2 layers: 80 trained values
    assertThat(s.loraParameterCount(lora)).isEqualTo(80);
    PlanInputs in = new PlanInputs(s, null, true, Precision.FP32, 1, 3, false, 16, lora, null);
    assertThat(in.trainableParameters()).isEqualTo(80);
    MemoryPlan p = MemoryPlan.of(in);
    // the base's 364 weights and the adapters' 80, fp32; gradients and AdamW for the 80 alone
    assertThat(p.components().get(MemoryPlan.STUDENT_WEIGHTS)).isEqualTo(364 * 4 + 80 * 4);
    assertThat(p.components().get(MemoryPlan.MASTER_WEIGHTS)).isZero();
    assertThat(p.components().get(MemoryPlan.GRADIENTS)).isEqualTo(80 * 4);
    assertThat(p.components().get(MemoryPlan.OPTIMIZER_STATE)).isEqualTo(80 * 8);
    // the base's 288 values per layer still, and 3 tokens x 2 adapters x r 2 middles: 300 values
    assertThat(MemoryPlan.layerSavedBytes(s, in, Precision.FP32)).isEqualTo(300 * 4);
    assertThat(p.components().get(MemoryPlan.ACTIVATIONS)).isEqualTo(2 * 1200 + 240 + 180);
    // with dropout each adapter also keeps its (B, T, in) mask and dropped input: 3 x 2 x (4 + 8)
    PlanInputs dropped =
        new PlanInputs(
            s,
            null,
            true,
            Precision.FP32,
            1,
            3,
            false,
            16,
            new LoraSpec(2, 4.0, 0.1, List.of("q_proj", "down_proj")),
            null);
    assertThat(MemoryPlan.layerSavedBytes(s, dropped, Precision.FP32)).isEqualTo((300 + 72) * 4);
    // bf16-mixed: the frozen base's matrices in bf16 (2 bytes, no master) and its norms (four of
    // D 4 per layer and the final one: 36 values) in fp32; the adapters compute in fp32, so they
    // are their own masters (4 bytes) with no bf16 copy
    assertThat(s.normParameterCount()).isEqualTo(36);
    MemoryPlan mixed =
        MemoryPlan.of(
            new PlanInputs(s, null, true, Precision.BF16_MIXED, 1, 3, false, 16, lora, null));
    assertThat(mixed.components().get(MemoryPlan.STUDENT_WEIGHTS)).isEqualTo(328 * 2 + 36 * 4);
    assertThat(mixed.components().get(MemoryPlan.MASTER_WEIGHTS)).isEqualTo(80 * 4);
    // and autograd keeps each product's bf16 weight copy until the backward: a layer's 144
    // matrix values (160 less its 4 norms of D 4) x 2 bytes for each of the 2 layers, and the
    // (V 10, D 4) head's while a loss chunk lives; none of that in fp32 (a weight is kept as is)
    PlanInputs mixedIn =
        new PlanInputs(s, null, true, Precision.BF16_MIXED, 1, 3, false, 16, lora, null);
    PlanInputs mixedNoLora =
        new PlanInputs(s, null, true, Precision.BF16_MIXED, 1, 3, false, 16, null, null);
    assertThat(MemoryPlan.frozenLayerCopyBytes(mixedIn)).isEqualTo(144 * 2);
    assertThat(MemoryPlan.frozenLayerCopyBytes(in)).isZero();
    assertThat(
            MemoryPlan.trainingActivations(mixedIn, false)
                - 2 * MemoryPlan.layerSavedBytes(s, mixedIn, Precision.BF16_MIXED)
                - (MemoryPlan.trainingActivations(mixedNoLora, false)
                    - 2 * MemoryPlan.layerSavedBytes(s, mixedNoLora, Precision.BF16_MIXED)))
        .isEqualTo(2 * 144 * 2);
    assertThat(
            MemoryPlan.trainingActivations(mixedIn, true)
                - MemoryPlan.layerSavedBytes(s, mixedIn, Precision.BF16_MIXED)
                - (MemoryPlan.trainingActivations(mixedNoLora, true)
                    - MemoryPlan.layerSavedBytes(s, mixedNoLora, Precision.BF16_MIXED)))
        .as("checkpointed: one layer's copies")
        .isEqualTo(144 * 2);
    assertThat(MemoryPlan.lossChunkBytes(mixedIn) - MemoryPlan.lossChunkBytes(mixedNoLora))
        .isEqualTo(10 * 4 * 2);
    assertThat(MemoryPlan.lossChunkBytes(in))
        .isEqualTo(
            MemoryPlan.lossChunkBytes(
                new PlanInputs(s, null, true, Precision.FP32, 1, 3, false, 16, null, null)));
    assertThat(mixed.components().get(MemoryPlan.GRADIENTS)).isEqualTo(80 * 4);
    assertThat(mixed.components().get(MemoryPlan.OPTIMIZER_STATE)).isEqualTo(80 * 8);
  }

  @Test
  void aGemma2_9bLoraStudentBesideA27bTeacherFitsAnH200WhereFullFinetuningDoesNot() {
    ModelShape t = ModelShape.preset("gemma2-27b");
    ModelShape s = ModelShape.preset("gemma2-9b");
    LoraSpec lora = new LoraSpec(16, 32.0, 0.0, null);
    // docs/lora.md: rank 16 on all seven projections of gemma2-9b
    assertThat(s.loraParameterCount(lora)).isEqualTo(54_018_048L);
    int chunk = PlanInputs.lossChunk(null, 256000);
    MemoryPlan loraPlan =
        MemoryPlan.of(
                new PlanInputs(s, t, true, Precision.BF16_MIXED, 1, 2048, true, chunk, lora, null))
            .onDevice(H200);
    // the base's matrices in bf16, its (4 x 42 + 1) x 3584 norm values in fp32; no bf16 adapters
    assertThat(loraPlan.components().get(MemoryPlan.STUDENT_WEIGHTS))
        .isEqualTo((9_241_705_984L - 605_696L) * 2 + 605_696L * 4);
    assertThat(loraPlan.components().get(MemoryPlan.MASTER_WEIGHTS)).isEqualTo(54_018_048L * 4);
    assertThat(loraPlan.components().get(MemoryPlan.OPTIMIZER_STATE)).isEqualTo(54_018_048L * 8);
    assertThat(loraPlan.fits()).isTrue();
    MemoryPlan full =
        MemoryPlan.of(new PlanInputs(s, t, true, Precision.BF16_MIXED, 1, 2048, true, chunk))
            .onDevice(H200);
    assertThat(full.fits()).isFalse();
  }

  @Test
  void aDistillJobFromATeacherCacheHoldsNoTeacherButTheChunksStoredEntries() {
    ModelShape s = new ModelShape(10, 4, 8, 2, 2, 1, 2, true);
    PlanInputs in = new PlanInputs(s, null, true, Precision.FP32, 1, 3, false, 16, null, 5);
    MemoryPlan p = MemoryPlan.of(in);
    assertThat(p.components().get(MemoryPlan.TEACHER_WEIGHTS)).isZero();
    // min(16, 3) positions x (k 5 + the tail) buckets x (8 + 14 x 4) bytes
    assertThat(p.components().get(MemoryPlan.TEACHER_CACHE)).isEqualTo(3 * 6 * 64);
    // the loss chunk: 3 tokens x V 10 x 4 bytes x 13 arrays
    assertThat(p.components().get(MemoryPlan.LOSS_CHUNK)).isEqualTo(3 * 10 * 4 * 13);
    MemoryPlan plain =
        MemoryPlan.of(new PlanInputs(s, null, true, Precision.FP32, 1, 3, false, 16));
    assertThat(plain.components().get(MemoryPlan.TEACHER_CACHE)).isZero();
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> new PlanInputs(s, s, true, Precision.FP32, 1, 3, false, 16, null, 5))
        .hasMessageContaining("without a teacher model");
  }

  @Test
  void pureBf16HoldsTwoByteWeightsAndOneLayerOfFp32Copies() {
    // the tiny shape of activationsOfATinyShapeByHand: 364 parameters, V D 40 + final norm 4, 160
    // per layer
    ModelShape s = new ModelShape(10, 4, 8, 2, 2, 1, 2, true);
    PlanInputs in = new PlanInputs(s, null, true, Precision.BF16, 1, 3, false, 16);
    MemoryPlan p = MemoryPlan.of(in);
    assertThat(p.components().get(MemoryPlan.STUDENT_WEIGHTS)).isEqualTo(364 * 2);
    assertThat(p.components().get(MemoryPlan.OPTIMIZER_STATE)).isEqualTo(364 * 8);
    assertThat(s.layerParameterCount()).isEqualTo(160);
    assertThat(p.components().get(MemoryPlan.MASTER_WEIGHTS)).isEqualTo((40 + 4 + 160) * 4);
    assertThat(p.components().get(MemoryPlan.GRADIENTS)).isEqualTo((40 + 4 + 160) * 4);
    // always checkpointed, whatever the spec says
    assertThat(in.checkpointing()).isTrue();
    assertThat(p.components().get(MemoryPlan.ACTIVATIONS))
        .isEqualTo(p.activationsCheckpointedBytes());
    // 2.6B in bf16: 2 + 8 bytes a parameter, plus the embedding's and one layer's fp32 copies
    ModelShape g = ModelShape.preset("gemma2-2b");
    MemoryPlan big =
        MemoryPlan.of(new PlanInputs(g, null, true, Precision.BF16, 1, 2048, true, 64));
    MemoryPlan mixed =
        MemoryPlan.of(new PlanInputs(g, null, true, Precision.BF16_MIXED, 1, 2048, true, 64));
    assertThat(big.components().get(MemoryPlan.STUDENT_WEIGHTS)).isEqualTo(2 * g.parameterCount());
    assertThat(big.components().get(MemoryPlan.GRADIENTS))
        .isLessThan(mixed.components().get(MemoryPlan.GRADIENTS) / 3);
    assertThat(big.totalBytes()).isLessThan(mixed.totalBytes());
  }

  @Test
  void checkpointingCutsTheActivationsOfLongSequences() {
    ModelShape s = ModelShape.preset("gemma2-2b");
    PlanInputs off = new PlanInputs(s, null, true, Precision.BF16_MIXED, 4, 2048, false, 64);
    PlanInputs on = new PlanInputs(s, null, true, Precision.BF16_MIXED, 4, 2048, true, 64);
    MemoryPlan a = MemoryPlan.of(off);
    MemoryPlan b = MemoryPlan.of(on);
    assertThat(b.components().get(MemoryPlan.ACTIVATIONS))
        .isLessThan(a.components().get(MemoryPlan.ACTIVATIONS) / 10);
    assertThat(a.activationsCheckpointedBytes()).isEqualTo(b.activationsCheckpointedBytes());
  }

  @Test
  void precisionsAndTheirNames() {
    assertThat(Precision.NAMES).containsExactly("fp32", "bf16-mixed", "bf16");
    assertThat(Precision.of("BF16-mixed")).isEqualTo(Precision.BF16_MIXED);
    assertThat(Precision.defaultFor("cuda")).isEqualTo(Precision.BF16_MIXED);
    assertThat(Precision.defaultFor("cpu")).isEqualTo(Precision.FP32);
    assertThat(Precision.defaultFor(null)).isEqualTo(Precision.FP32);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Precision.of("fp16"))
        .hasMessage("precision must be one of fp32, bf16-mixed, bf16, was 'fp16'");
  }

  @Test
  void totalMibRoundsUp() {
    ModelShape s = new ModelShape(10, 4, 8, 2, 2, 1, 2, true);
    MemoryPlan p = MemoryPlan.of(new PlanInputs(s, null, true, Precision.FP32, 1, 3, false, 16));
    assertThat(p.totalBytes() - MemoryPlan.RUNTIME_BYTES).isLessThan(1 << 20);
    assertThat(p.totalMib()).isEqualTo((MemoryPlan.RUNTIME_BYTES >> 20) + 1);
  }
}
