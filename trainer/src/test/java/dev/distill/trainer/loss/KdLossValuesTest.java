package dev.distill.trainer.loss;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The reference loss on tiny hand-made logits. Expected values were computed once with an
 * independent plain-Python double implementation (math.log/exp, log-sum-exp by hand) and pasted
 * here:
 *
 * <pre>
 * teacher = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]   student = [[0.5, 1.5, 1.0], [1.0, 0.0, 2.0]]   labels = [1, 2]
 * mean over 2 positions:    forward KL     reverse KL     JSD(0.5)        JSD(0.25)
 *   T = 1                   0.144928834    0.209545513    0.0412416589    0.0287741945
 *   T = 2 (times T^2 = 4)   0.267858628    0.290706102    0.0690689841    0.0508960457
 * CE (T = 1) 0.543937818; 0.6 * forward KL + 0.4 * CE = 0.304532427
 * position 1 alone: forward KL 0.214201164, CE 0.407605964
 * </pre>
 */
class KdLossValuesTest {

  private static final float[] TEACHER = {1.0f, 2.0f, 0.5f, 0.0f, -1.0f, 3.0f};
  private static final float[] STUDENT = {0.5f, 1.5f, 1.0f, 1.0f, 0.0f, 2.0f};
  private static final double TOL = 2e-6;

  private NDManager manager;

  @BeforeEach
  void open() {
    manager = NDManager.newBaseManager();
  }

  @AfterEach
  void close() {
    manager.close();
  }

  private NDArray logits(float[] values, long vocab) {
    return manager.create(values, new Shape(1, values.length / vocab, vocab));
  }

  private NDArray labels(long... ids) {
    return manager.create(ids, new Shape(1, ids.length));
  }

  private NDArray mask(float... m) {
    return manager.create(m, new Shape(1, m.length));
  }

  private static KdLoss loss(KdKind kind, double t, double ratio, double beta) {
    return new KdLoss(new KdLossConfig(kind, t, ratio, beta, 4));
  }

  private double kd(KdKind kind, double t, double beta) {
    return loss(kind, t, 1.0, beta)
        .reference(logits(STUDENT, 3), logits(TEACHER, 3), labels(1, 2), mask(1, 1), 2)
        .kd()
        .getFloat();
  }

  @Test
  void identicalDistributionsGiveZeroForEveryKind() {
    float[][] cases = {STUDENT, TEACHER, {30f, -30f, 0f, 5f, 5f, 5f}};
    for (float[] same : cases) {
      for (double t : new double[] {1.0, 2.0, 0.5}) {
        for (double beta : new double[] {0.0, 0.3, 0.5, 1.0}) {
          for (KdKind kind : KdKind.values()) {
            LossParts parts =
                loss(kind, t, 1.0, beta)
                    .reference(logits(same, 3), logits(same, 3), labels(0, 1), mask(1, 1), 2);
            assertThat(parts.kd().getFloat())
                .as("%s T=%s beta=%s", kind, t, beta)
                .isCloseTo(0f, within(1e-6f));
            assertThat(parts.total().getFloat()).isCloseTo(0f, within(1e-6f));
          }
        }
      }
    }
  }

  @Test
  void workedTwoByThreeCaseAtTemperatureOne() {
    assertThat(kd(KdKind.FORWARD_KL, 1, 0.5)).isCloseTo(0.14492883390383185, within(TOL));
    assertThat(kd(KdKind.REVERSE_KL, 1, 0.5)).isCloseTo(0.20954551347405687, within(TOL));
    assertThat(kd(KdKind.JSD, 1, 0.5)).isCloseTo(0.04124165891463383, within(TOL));
    assertThat(kd(KdKind.JSD, 1, 0.25)).isCloseTo(0.028774194456355085, within(TOL));
  }

  @Test
  void temperatureSoftensBothSidesAndScalesByItsSquare() {
    assertThat(kd(KdKind.FORWARD_KL, 2, 0.5)).isCloseTo(0.26785862765513935, within(TOL));
    assertThat(kd(KdKind.REVERSE_KL, 2, 0.5)).isCloseTo(0.2907061016407964, within(TOL));
    assertThat(kd(KdKind.JSD, 2, 0.5)).isCloseTo(0.06906898406794239, within(TOL));
    assertThat(kd(KdKind.JSD, 2, 0.25)).isCloseTo(0.050896045659926704, within(TOL));
    // T = 2 equals 4 x (T = 1 on logits halved)
    float[] s = STUDENT.clone();
    float[] t = TEACHER.clone();
    for (int i = 0; i < s.length; i++) {
      s[i] /= 2;
      t[i] /= 2;
    }
    double halved =
        loss(KdKind.FORWARD_KL, 1, 1.0, 0.5)
            .reference(logits(s, 3), logits(t, 3), labels(1, 2), mask(1, 1), 2)
            .kd()
            .getFloat();
    assertThat(kd(KdKind.FORWARD_KL, 2, 0.5)).isCloseTo(4 * halved, within(TOL));
  }

  @Test
  void jsdEdgesAreForwardAndReverseKl() {
    assertThat(kd(KdKind.JSD, 1, 0.0)).isCloseTo(0.14492883390383185, within(TOL));
    assertThat(kd(KdKind.JSD, 1, 1.0)).isCloseTo(0.20954551347405687, within(TOL));
  }

  @Test
  void crossEntropyAndTheMixture() {
    LossParts parts =
        loss(KdKind.FORWARD_KL, 1, 0.6, 0.5)
            .reference(logits(STUDENT, 3), logits(TEACHER, 3), labels(1, 2), mask(1, 1), 2);
    assertThat(parts.ce().getFloat()).isCloseTo(0.5439378175430576f, within(2e-6f));
    assertThat(parts.total().getFloat()).isCloseTo(0.30453242735952213f, within(2e-6f));
    assertThat(parts.tokens()).isEqualTo(2);
    // fine-tuning: no teacher at all
    LossParts ce =
        new KdLoss(KdLossConfig.crossEntropyOnly(4))
            .reference(logits(STUDENT, 3), null, labels(1, 2), mask(1, 1), 2);
    assertThat(ce.total().getFloat()).isCloseTo(0.5439378175430576f, within(2e-6f));
    assertThat(ce.kd().getFloat()).isZero();
  }

  @Test
  void maskedPositionsDoNotCountAndTheNormaliserDivides() {
    // position 0 masked, its label is an ignore index that must not be looked up
    LossParts one =
        loss(KdKind.FORWARD_KL, 1, 0.5, 0.5)
            .reference(logits(STUDENT, 3), logits(TEACHER, 3), labels(-100, 2), mask(0, 1), 1);
    assertThat(one.kd().getFloat()).isCloseTo(0.21420116443996273f, within(2e-6f));
    assertThat(one.ce().getFloat()).isCloseTo(0.4076059644443806f, within(2e-6f));
    assertThat(one.tokens()).isEqualTo(1);
    // the same token normalised by a larger accumulated batch of 4 tokens
    LossParts quarter =
        loss(KdKind.FORWARD_KL, 1, 0.5, 0.5)
            .reference(logits(STUDENT, 3), logits(TEACHER, 3), labels(0, 2), mask(0, 1), 4);
    assertThat(quarter.kd().getFloat()).isCloseTo(0.21420116443996273f / 4, within(1e-6f));
  }

  @Test
  void allTokensMaskedGiveZeroAndNoNanGradient() {
    NDArray student = logits(STUDENT, 3);
    student.setRequiresGradient(true);
    for (KdKind kind : KdKind.values()) {
      try (GradientCollector gc = manager.getEngine().newGradientCollector()) {
        LossParts parts =
            loss(kind, 2, 0.5, 0.5)
                .reference(student, logits(TEACHER, 3), labels(1, 2), mask(0, 0), 0);
        assertThat(parts.total().getFloat()).isZero();
        assertThat(parts.kd().getFloat()).isZero();
        assertThat(parts.ce().getFloat()).isZero();
        gc.backward(parts.total());
      }
      try (NDArray g = student.getGradient()) {
        for (float v : g.toFloatArray()) {
          assertThat(v).as(kind.name()).isZero();
        }
      }
    }
  }

  @Test
  void differentVocabulariesAreAnErrorNamingBothSizes() {
    assertThatThrownBy(
            () ->
                loss(KdKind.FORWARD_KL, 1, 1, 0.5)
                    .reference(
                        logits(STUDENT, 3), logits(new float[10], 5), labels(1, 2), mask(1, 1), 2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("teacher vocabulary size 5")
        .hasMessageContaining("student vocabulary size 3");
  }

  @Test
  void paddedSupersetIsSlicedToTheSharedIds() {
    // the teacher pads its vocabulary to 5 with huge logits that would dominate if compared
    float[] padded = {1.0f, 2.0f, 0.5f, 40f, 40f, 0.0f, -1.0f, 3.0f, 40f, 40f};
    double kd =
        new KdLoss(new KdLossConfig(KdKind.FORWARD_KL, 1, 1, 0.5, 4), 3)
            .reference(logits(STUDENT, 3), logits(padded, 5), labels(1, 2), mask(1, 1), 2)
            .kd()
            .getFloat();
    assertThat(kd).isCloseTo(0.14492883390383185, within(TOL));
    // a student padded to 4: the divergence still on ids [0, 3)
    float[] paddedStudent = {0.5f, 1.5f, 1.0f, -7f, 1.0f, 0.0f, 2.0f, -7f};
    double kd2 =
        new KdLoss(new KdLossConfig(KdKind.REVERSE_KL, 1, 1, 0.5, 4), 3)
            .reference(logits(paddedStudent, 4), logits(padded, 5), labels(1, 2), mask(1, 1), 2)
            .kd()
            .getFloat();
    assertThat(kd2).isCloseTo(0.20954551347405687, within(TOL));
    assertThatThrownBy(
            () ->
                new KdLoss(new KdLossConfig(KdKind.FORWARD_KL, 1, 1, 0.5, 4), 4)
                    .reference(logits(STUDENT, 3), logits(padded, 5), labels(1, 2), mask(1, 1), 2))
        .hasMessageContaining("shared vocabulary size")
        .hasMessageContaining("was 4");
  }

  @Test
  void badInputsNameWhatIsWrong() {
    KdLoss l = loss(KdKind.FORWARD_KL, 1, 0.5, 0.5);
    assertThatThrownBy(
            () -> l.reference(logits(STUDENT, 3), logits(TEACHER, 3), labels(1, 2), mask(1, 1), 1))
        .hasMessageContaining("normaliser 1 is smaller than the 2 unmasked tokens");
    assertThatThrownBy(
            () -> l.reference(logits(STUDENT, 3), logits(TEACHER, 3), labels(1, 3), mask(1, 1), 2))
        .hasMessageContaining("labels must be ids in [0, 3)")
        .hasMessageContaining("found 3");
    assertThatThrownBy(
            () -> l.reference(logits(STUDENT, 3), logits(TEACHER, 3), labels(1), mask(1), 2))
        .hasMessageContaining("labels must be (1, 2)");
    assertThatThrownBy(() -> l.reference(logits(STUDENT, 3), null, labels(1, 2), mask(1, 1), 2))
        .hasMessageContaining("teacherLogits must not be null");
  }
}
