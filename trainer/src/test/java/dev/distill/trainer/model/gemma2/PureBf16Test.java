package dev.distill.trainer.model.gemma2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.distill.spec.plan.Precision;
import dev.distill.trainer.fused.FusedOps;
import dev.distill.trainer.loss.KdLoss;
import dev.distill.trainer.loss.KdLossConfig;
import dev.distill.trainer.model.NoGrad;
import dev.distill.trainer.model.gemma2.Gemma2WeightNames.Layer;
import dev.distill.trainer.optim.AdamW;
import dev.distill.trainer.optim.GradClipper;
import dev.distill.trainer.optim.OptimizerConfig;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pure bf16: weights held as bf16 bits, AdamW applied layer by layer inside the backward pass. The
 * reference is the ordinary path on the same numbers: a bf16-mixed model whose fp32 masters are the
 * bf16 values (same bf16 matmuls, checkpointed, so the same gradients), one AdamW step after the
 * backward pass, its masters then rounded to bf16. Both must agree bit for bit.
 */
class PureBf16Test {

  private static final int B = 2;
  private static final int T = 12;

  private NDManager manager;
  private NDArray ids;
  private NDArray attention;
  private NDArray labels;
  private NDArray lossMask;

  @BeforeEach
  void open() {
    manager = NDManager.newBaseManager();
    Random r = new Random(5);
    long[] idv = new long[B * T];
    long[] labv = new long[B * T];
    float[] att = new float[B * T];
    float[] m = new float[B * T];
    for (int i = 0; i < B * T; i++) {
      boolean pad = i >= T && i % T >= 9; // the second row is 9 tokens long
      idv[i] = pad ? 0 : 1 + r.nextInt(49);
      labv[i] = r.nextInt(50);
      att[i] = pad ? 0 : 1;
      m[i] = pad || i % T < 2 ? 0 : 1;
    }
    ids = manager.create(idv, new Shape(B, T));
    labels = manager.create(labv, new Shape(B, T));
    attention = manager.create(att, new Shape(B, T));
    lossMask = manager.create(m, new Shape(B, T));
  }

  @AfterEach
  void close() {
    manager.close();
  }

  private static OptimizerConfig adamw() {
    // weight decay on, so both AdamW groups (decay and no decay) are exercised; no clipping
    return new OptimizerConfig(1e-2, 1.0, 0, 10, 0.1, 0.9, 0.95, OptimizerConfig.DEFAULT_EPS, 0);
  }

  @Test
  void heldWeightsAreBf16BitsAtHalfTheBytesOfFp32() {
    Gemma2Config cfg = Gemma2ModelTest.config(3, 5);
    try (Gemma2Model fp32 = Gemma2Model.init(cfg, manager, 7);
        Gemma2Model bf16 = Gemma2Model.init(cfg, manager, 7, Precision.BF16)) {
      long held = 0;
      for (var e : bf16.baseParameters().entrySet()) {
        NDArray w = e.getValue();
        assertThat(w.getDataType()).as(e.getKey()).isEqualTo(DataType.INT8);
        Shape logical = fp32.baseParameters().get(e.getKey()).getShape();
        long[] dims = logical.getShape().clone();
        dims[dims.length - 1] *= 2;
        assertThat(w.getShape()).as(e.getKey()).isEqualTo(new Shape(dims));
        held += w.size() * w.getDataType().getNumOfBytes();
      }
      assertThat(held).isEqualTo(bf16.parameterBytes());
      assertThat(2 * held).isEqualTo(fp32.parameterBytes());
      assertThat(bf16.updatesInBackward()).isTrue();
      assertThat(fp32.updatesInBackward()).isFalse();
    }
  }

  @Test
  void bf16BitsRoundToNearestEven() {
    // 1 + 2^-8 lies halfway between 1 (0x3F80, even) and 1 + 2^-7 (0x3F81); 1 + 3 2^-8 halfway
    // between 0x3F81 and 1 + 2^-6 (0x3F82, even); 1 + 2^-8 + 2^-20 is above the half: up
    float[] x = {1f + 0x1p-8f, 1f + 3 * 0x1p-8f, 1f + 0x1p-8f + 0x1p-20f, -2.5f};
    try (NDManager m = manager.newSubManager()) {
      byte[] bits = FusedOps.bf16Bits(m.create(x, new Shape(4))).toByteArray();
      int[] expected = {0x3F80, 0x3F82, 0x3F81, 0xC020};
      for (int i = 0; i < 4; i++) {
        int v = (bits[2 * i] & 0xFF) | (bits[2 * i + 1] & 0xFF) << 8; // little-endian pairs
        assertThat(v).as("bf16 of %s", x[i]).isEqualTo(expected[i]);
      }
      float[] back = FusedOps.bf16Float(m.create(bits, new Shape(8))).toFloatArray();
      assertThat(back).containsExactly(1f, 1f + 0x1p-6f, 1f + 0x1p-7f, -2.5f);
    }
  }

  /** One training step's backward through the loss, as the recipe runs it. */
  private float backward(Gemma2Model student, GradientCollector gc) {
    KdLoss loss = new KdLoss(KdLossConfig.crossEntropyOnly(5));
    NDArray hidden = student.hidden(ids, attention);
    return loss.backward(
            gc,
            new KdLoss.Hidden(student, hidden, null, null),
            labels,
            lossMask,
            KdLoss.countTokens(lossMask))
        .total()
        .getFloat();
  }

  @Test
  void theUpdateInBackwardIsAdamWOnTheSameGradientsRoundedToBf16(@TempDir Path tmp) {
    Gemma2Config cfg = Gemma2ModelTest.config(3, 5);
    try (Gemma2Model pure = Gemma2Model.init(cfg, manager, 7, Precision.BF16)) {
      pure.save(tmp); // BF16 on disk: the bits as held
      try (Gemma2Model mixed = Gemma2Model.load(tmp, manager, Precision.BF16_MIXED);
          AdamW inBackward =
              AdamW.inBackward(adamw(), pure.parameterShapes(), manager.getDevice(), manager);
          AdamW after = new AdamW(adamw(), mixed.parameters(), manager)) {
        mixed.setActivationCheckpointing(true); // the same recompute as pure bf16's
        assertBitsEqual(pure, mixed, "before any step");
        for (int step = 1; step <= 3; step++) {
          byte[] embedBefore = pure.baseParameters().get(Gemma2WeightNames.EMBED).toByteArray();
          byte[] layerBefore = pure.baseParameters().get(Layer.Q_PROJ.of(0)).toByteArray();
          float pureLoss;
          float mixedLoss;
          AdamW.StepReport report;
          double mixedNorm;
          try (NDManager s = manager.newSubManager();
              GradientCollector gc = manager.getEngine().newGradientCollector()) {
            inBackward.beginInBackward();
            pureLoss = backward(pure, gc);
            pure.finishBackward(inBackward::updateInBackward);
            report = inBackward.finishInBackward();
          }
          try (NDManager s = manager.newSubManager();
              GradientCollector gc = manager.getEngine().newGradientCollector()) {
            mixedLoss = backward(mixed, gc);
            mixed.finishBackward();
            mixedNorm = GradClipper.globalNorm(mixed.parameters());
            after.stepScheduled();
          }
          roundMastersToBf16(mixed);
          assertThat(pureLoss).as("loss of step %d", step).isEqualTo(mixedLoss);
          assertThat(report.gradNorm()).isCloseTo(mixedNorm, within(1e-6 * mixedNorm));
          assertThat(report.learningRate()).isEqualTo(1e-2);
          assertBitsEqual(pure, mixed, "after step " + step);
          assertThat(pure.baseParameters().get(Gemma2WeightNames.EMBED).toByteArray())
              .as("the embedding moved in step %d", step)
              .isNotEqualTo(embedBefore);
          assertThat(pure.baseParameters().get(Layer.Q_PROJ.of(0)).toByteArray())
              .as("layer 0 moved in step %d", step)
              .isNotEqualTo(layerBefore);
        }
        assertThat(inBackward.step()).isEqualTo(3);
        // the moments are AdamW's too
        for (var e : after.exportState().entrySet()) {
          assertThat(inBackward.exportState().get(e.getKey()).toFloatArray())
              .as(e.getKey())
              .containsExactly(e.getValue().toFloatArray());
        }
      }
    }
  }

  /** What pure bf16 holds: the masters rounded to nearest-even bf16 after each step. */
  private static void roundMastersToBf16(Gemma2Model mixed) {
    try (NoGrad ignored = NoGrad.enter()) {
      for (NDArray p : mixed.parameters().values()) {
        try (NDArray bits = FusedOps.bf16Bits(p);
            NDArray back = FusedOps.bf16Float(bits)) {
          p.set(new NDIndex("..."), back);
        }
      }
    }
  }

  private static void assertBitsEqual(Gemma2Model pure, Gemma2Model mixed, String when) {
    int changed = 0;
    for (var e : mixed.parameters().entrySet()) {
      byte[] expected;
      try (NDArray bits = FusedOps.bf16Bits(e.getValue())) {
        expected = bits.toByteArray();
      }
      byte[] held = pure.baseParameters().get(e.getKey()).toByteArray();
      assertThat(held).as("%s %s", e.getKey(), when).isEqualTo(expected);
      changed += expected.length;
    }
    assertThat(changed).isEqualTo(pure.parameterBytes());
  }
}
