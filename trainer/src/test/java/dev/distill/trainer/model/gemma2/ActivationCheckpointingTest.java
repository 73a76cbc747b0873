package dev.distill.trainer.model.gemma2;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.distill.trainer.loss.KdKind;
import dev.distill.trainer.loss.KdLoss;
import dev.distill.trainer.loss.KdLossConfig;
import dev.distill.trainer.model.NoGrad;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Checkpointed layers against the plain path: one distillation step's loss and every student
 * gradient, on a 3-layer model whose sequences are longer than the sliding window and padded.
 */
class ActivationCheckpointingTest {

  private static final int B = 2;
  private static final int T = 12;

  private NDManager manager;
  private Gemma2Model student;
  private Gemma2Model teacher;
  private NDArray ids;
  private NDArray attention;
  private NDArray labels;
  private NDArray lossMask;

  @BeforeEach
  void open() {
    manager = NDManager.newBaseManager();
    student = Gemma2Model.init(Gemma2ModelTest.config(3, 5), manager, 7);
    teacher = Gemma2Model.init(Gemma2ModelTest.config(2, 5), manager, 8);
    teacher.requireGradients(false);
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
      m[i] = pad || i % T < 2 ? 0 : 1; // a 2-token prompt and the padding are masked
    }
    ids = manager.create(idv, new Shape(B, T));
    labels = manager.create(labv, new Shape(B, T));
    attention = manager.create(att, new Shape(B, T));
    lossMask = manager.create(m, new Shape(B, T));
  }

  @AfterEach
  void close() {
    student.close();
    teacher.close();
    manager.close();
  }

  /** One micro-batch's backward as the training recipe runs it; the gradients, copied out. */
  private Map<String, float[]> step(boolean checkpointing, float[] lossOut) {
    student.setActivationCheckpointing(checkpointing);
    KdLoss loss = new KdLoss(new KdLossConfig(KdKind.FORWARD_KL, 2.0, 0.5, 0.5, 5));
    long n = KdLoss.countTokens(lossMask);
    Map<String, float[]> grads = new LinkedHashMap<>();
    try (NDManager step = manager.newSubManager();
        GradientCollector gc = manager.getEngine().newGradientCollector()) {
      NDArray teacherHidden;
      try (NoGrad ignored = NoGrad.enter()) {
        teacherHidden = teacher.hidden(ids, attention);
      }
      NDArray hidden = student.hidden(ids, attention);
      lossOut[0] =
          loss.backward(
                  gc,
                  new KdLoss.Hidden(student, hidden, teacher, teacherHidden),
                  labels,
                  lossMask,
                  n)
              .total()
              .getFloat();
      student.finishBackward();
      for (var e : student.parameters().entrySet()) {
        try (NDArray g = e.getValue().getGradient()) {
          grads.put(e.getKey(), g.toFloatArray());
        }
      }
      gc.zeroGradients();
    }
    return grads;
  }

  @Test
  void checkpointedGradientsEqualThePlainOnes() {
    float[] plainLoss = new float[1];
    float[] ckptLoss = new float[1];
    Map<String, float[]> plain = step(false, plainLoss);
    Map<String, float[]> ckpt = step(true, ckptLoss);
    assertThat(ckptLoss[0]).isEqualTo(plainLoss[0]);
    assertThat(ckpt.keySet()).isEqualTo(plain.keySet());
    double worst = 0;
    for (String name : plain.keySet()) {
      float[] a = plain.get(name);
      float[] b = ckpt.get(name);
      double norm = 0;
      for (float v : a) {
        norm = Math.max(norm, Math.abs(v));
      }
      assertThat(norm).as("%s has a gradient", name).isGreaterThan(0);
      for (int i = 0; i < a.length; i++) {
        worst = Math.max(worst, Math.abs(a[i] - b[i]));
      }
    }
    assertThat(worst).as("largest |plain - checkpointed| over every gradient").isLessThan(1e-6);
  }

  @Test
  void aForwardWithoutAutogradKeepsNothingToFinish() {
    student.setActivationCheckpointing(true);
    try (NDManager step = manager.newSubManager()) {
      NDArray plain;
      NDArray ckpt;
      try (NoGrad ignored = NoGrad.enter()) {
        ckpt = student.hidden(ids, attention);
        student.setActivationCheckpointing(false);
        plain = student.hidden(ids, attention);
      }
      assertThat(ckpt.toFloatArray()).containsExactly(plain.toFloatArray());
      student.finishBackward(); // nothing pending: no effect, no error
    }
  }
}
