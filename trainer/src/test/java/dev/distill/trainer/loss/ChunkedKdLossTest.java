package dev.distill.trainer.loss;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.distill.trainer.model.NoGrad;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The chunked training path against the plain reference, on a tiny model with a trunk and a head.
 */
class ChunkedKdLossTest {

  private static final int B = 2;
  private static final int T = 7;
  private static final int V = 11;

  private NDManager manager;
  private TinyLm student;
  private TinyLm teacher;
  private NDArray ids;
  private NDArray labels;
  private NDArray mask;

  @BeforeEach
  void open() {
    manager = NDManager.newBaseManager();
    student = new TinyLm(manager, V, 6, 1, true);
    // the teacher's parameters also require a gradient: the loss must still never give them one
    teacher = new TinyLm(manager, V, 5, 2, true);
    Random r = new Random(3);
    long[] idv = new long[B * T];
    long[] labv = new long[B * T];
    float[] maskv = new float[B * T];
    for (int i = 0; i < B * T; i++) {
      idv[i] = r.nextInt(V);
      labv[i] = r.nextInt(V);
      maskv[i] = (i % T == 0 || i % 5 == 3) ? 0f : 1f; // prompt and scattered padding masked
    }
    ids = manager.create(idv, new Shape(B, T));
    labels = manager.create(labv, new Shape(B, T));
    mask = manager.create(maskv, new Shape(B, T));
  }

  @AfterEach
  void close() {
    manager.close();
  }

  /** Loss values and student gradients of the plain reference. */
  private Result reference(KdLossConfig config, NDArray ids, NDArray labels, NDArray mask, long n) {
    KdLoss loss = new KdLoss(config);
    float[] values;
    try (GradientCollector gc = manager.getEngine().newGradientCollector()) {
      NDArray teacherLogits;
      try (NoGrad ignored = NoGrad.enter()) {
        teacherLogits = teacher.forward(ids, null);
      }
      LossParts parts = loss.reference(student.forward(ids, null), teacherLogits, labels, mask, n);
      gc.backward(parts.total());
      values = values(parts);
    }
    assertTeacherUntouched();
    return new Result(values, student.takeGradients());
  }

  /** Loss values and student gradients of the chunked path. */
  private Result chunked(KdLossConfig config, NDArray ids, NDArray labels, NDArray mask, long n) {
    KdLoss loss = new KdLoss(config);
    float[] values;
    try (GradientCollector gc = manager.getEngine().newGradientCollector()) {
      NDArray teacherHidden;
      try (NoGrad ignored = NoGrad.enter()) {
        teacherHidden = teacher.hidden(ids, null);
      }
      LossParts parts =
          loss.backward(
              gc,
              new KdLoss.Hidden(student, student.hidden(ids, null), teacher, teacherHidden),
              labels,
              mask,
              n);
      values = values(parts);
    }
    assertTeacherUntouched();
    return new Result(values, student.takeGradients());
  }

  private void assertTeacherUntouched() {
    for (Map.Entry<String, float[]> e : teacher.takeGradients().entrySet()) {
      for (float v : e.getValue()) {
        assertThat(v).as("teacher gradient of " + e.getKey()).isZero();
      }
    }
  }

  private static float[] values(LossParts parts) {
    return new float[] {parts.total().getFloat(), parts.kd().getFloat(), parts.ce().getFloat()};
  }

  private record Result(float[] values, Map<String, float[]> gradients) {}

  private static void assertSame(Result expected, Result actual, String what) {
    for (int i = 0; i < 3; i++) {
      assertThat(actual.values[i])
          .as("%s value %d", what, i)
          .isCloseTo(expected.values[i], within(2e-6f + 2e-6f * Math.abs(expected.values[i])));
    }
    assertThat(actual.gradients.keySet()).isEqualTo(expected.gradients.keySet());
    for (String name : expected.gradients.keySet()) {
      float[] e = expected.gradients.get(name);
      float[] a = actual.gradients.get(name);
      double scale = 0;
      for (float v : e) {
        scale = Math.max(scale, Math.abs(v));
      }
      assertThat(scale)
          .as("%s gradient of %s is not trivially zero", what, name)
          .isGreaterThan(1e-4);
      for (int i = 0; i < e.length; i++) {
        assertThat((double) a[i])
            .as("%s gradient of %s[%d]", what, name, i)
            .isCloseTo(e[i], within(1e-5 * scale));
      }
    }
  }

  @Test
  void chunkedEqualsUnchunkedInValuesAndGradients() {
    long n = KdLoss.countTokens(mask);
    KdLossConfig[] configs = {
      new KdLossConfig(KdKind.FORWARD_KL, 2.0, 0.7, 0.5, 1),
      new KdLossConfig(KdKind.REVERSE_KL, 1.0, 0.4, 0.5, 1),
      new KdLossConfig(KdKind.JSD, 1.5, 1.0, 0.3, 1),
      new KdLossConfig(KdKind.FORWARD_KL, 1.0, 0.0, 0.5, 1),
      KdLossConfig.crossEntropyOnly(1),
    };
    for (KdLossConfig base : configs) {
      Result expected = reference(base, ids, labels, mask, n);
      for (int chunk : new int[] {1, 2, 3, 4, 7, 100}) {
        KdLossConfig c =
            new KdLossConfig(
                base.kind(), base.temperature(), base.kdRatio(), base.jsdBeta(), chunk);
        student.widestLogits = 0;
        teacher.widestLogits = 0;
        student.logitPositions = 0;
        assertSame(expected, chunked(c, ids, labels, mask, n), base.kind() + " chunk " + chunk);
        // logits are only ever made for one chunk of the unmasked positions of the whole batch:
        // memory O(chunk x V), and masked positions never reach the head
        assertThat(student.widestLogits).isEqualTo(Math.min(chunk, n));
        assertThat(student.logitPositions).isEqualTo(n);
        if (base.kdRatio() > 0) {
          assertThat(teacher.widestLogits).isEqualTo(Math.min(chunk, n));
        }
      }
    }
  }

  @Test
  void evaluateGivesTheSameValuesWithoutGradients() {
    KdLossConfig c = new KdLossConfig(KdKind.JSD, 2.0, 0.5, 0.5, 3);
    long n = KdLoss.countTokens(mask);
    Result expected = reference(c, ids, labels, mask, n);
    LossParts parts;
    try (NoGrad ignored = NoGrad.enter()) {
      parts =
          new KdLoss(c)
              .evaluate(
                  new KdLoss.Hidden(
                      student, student.hidden(ids, null), teacher, teacher.hidden(ids, null)),
                  labels,
                  mask,
                  n);
    }
    float[] v = values(parts);
    for (int i = 0; i < 3; i++) {
      assertThat(v[i]).isCloseTo(expected.values[i], within(2e-6f));
    }
    for (float[] g : student.takeGradients().values()) {
      for (float x : g) {
        assertThat(x).isZero();
      }
    }
  }

  @Test
  void fourMicroBatchesEqualOneBatch() {
    // batch of 4 sequences with different numbers of unmasked tokens, split into 4 micro-batches of
    // 1
    NDArray ids4 = ids.concat(ids.flip(0), 0);
    NDArray labels4 = labels.concat(labels.flip(1), 0);
    float[] m = new float[4 * T];
    for (int i = 0; i < m.length; i++) {
      m[i] = i < T ? (i >= 5 ? 1 : 0) : (i % 3 == 0 ? 0 : 1);
    }
    NDArray mask4 = manager.create(m, new Shape(4, T));
    long n = KdLoss.countTokens(mask4);
    for (KdLossConfig c :
        new KdLossConfig[] {
          new KdLossConfig(KdKind.FORWARD_KL, 2.0, 0.7, 0.5, 3),
          new KdLossConfig(KdKind.JSD, 1.0, 0.5, 0.4, 2)
        }) {
      Result whole = chunked(c, ids4, labels4, mask4, n);
      float[] sum = new float[3];
      Map<String, float[]> grads = null;
      try (GradientCollector gc = manager.getEngine().newGradientCollector()) {
        for (int b = 0; b < 4; b++) {
          NDIndex row = new NDIndex("{}:{}", b, b + 1);
          NDArray microIds = ids4.get(row);
          NDArray teacherHidden;
          try (NoGrad ignored = NoGrad.enter()) {
            teacherHidden = teacher.hidden(microIds, null);
          }
          LossParts parts =
              new KdLoss(c)
                  .backward(
                      gc,
                      new KdLoss.Hidden(
                          student, student.hidden(microIds, null), teacher, teacherHidden),
                      labels4.get(row),
                      mask4.get(row),
                      n);
          float[] v = values(parts);
          for (int i = 0; i < 3; i++) {
            sum[i] += v[i];
          }
        }
      }
      grads = student.takeGradients();
      assertSame(whole, new Result(sum, grads), "accumulated " + c.kind());
      // per-micro-batch normalisation would differ: the test would catch it
      assertThat(n).isGreaterThan(4L * KdLoss.countTokens(mask4.get(new NDIndex("0:1"))));
    }
  }

  @Test
  void allTokensMaskedGiveZeroAndNoNanGradients() {
    NDArray none = manager.zeros(new Shape(B, T));
    for (KdKind kind : KdKind.values()) {
      Result r = chunked(new KdLossConfig(kind, 2.0, 0.5, 0.5, 3), ids, labels, none, 0);
      assertThat(r.values).containsOnly(0f);
      for (Map.Entry<String, float[]> e : r.gradients.entrySet()) {
        for (float v : e.getValue()) {
          assertThat(v).as(kind + " " + e.getKey()).isZero();
        }
      }
    }
  }

  @Test
  void sharedVocabularySlicesThePaddedTeacher() {
    TinyLm bigTeacher = new TinyLm(manager, V + 3, 5, 9, false);
    KdLossConfig c = new KdLossConfig(KdKind.FORWARD_KL, 1.0, 1.0, 0.5, 3);
    long n = KdLoss.countTokens(mask);
    NDArray teacherHidden = bigTeacher.hidden(ids, null);
    assertThatThrownBy(
            () ->
                new KdLoss(c)
                    .evaluate(
                        new KdLoss.Hidden(
                            student, student.hidden(ids, null), bigTeacher, teacherHidden),
                        labels,
                        mask,
                        n))
        .hasMessageContaining("teacher vocabulary size 14")
        .hasMessageContaining("student vocabulary size 11");
    float chunkedKd =
        new KdLoss(c, V)
            .evaluate(
                new KdLoss.Hidden(student, student.hidden(ids, null), bigTeacher, teacherHidden),
                labels,
                mask,
                n)
            .kd()
            .getFloat();
    NDArray sliced = bigTeacher.logits(teacherHidden).get(new NDIndex(":, :, :{}", V));
    float referenceKd =
        new KdLoss(c)
            .reference(student.forward(ids, null), sliced, labels, mask, n)
            .kd()
            .getFloat();
    assertThat(chunkedKd).isCloseTo(referenceKd, within(2e-6f)).isGreaterThan(0.01f);
  }
}
