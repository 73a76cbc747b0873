package dev.distill.trainer.model.gemma2;

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

/**
 * One distillation micro-batch as the training recipe runs it (teacher forward without autograd,
 * student forward, the chunked KD loss's backward, {@code finishBackward}), for the tests that
 * compare two ways of computing it: a 3-layer student and a 2-layer teacher (grouped-query,
 * soft-capped, window 5) on 2 x 12 tokens longer than the window, the second row padded after 9
 * tokens, a 2-token prompt and the padding out of the loss.
 */
final class DistillStep implements AutoCloseable {

  static final int B = 2;
  static final int T = 12;

  final NDManager manager = NDManager.newBaseManager();
  final Gemma2Model student = Gemma2Model.init(Gemma2ModelTest.config(3, 5), manager, 7);
  final Gemma2Model teacher = Gemma2Model.init(Gemma2ModelTest.config(2, 5), manager, 8);
  final NDArray ids;
  final NDArray attention;
  final NDArray labels;
  final NDArray lossMask;

  /**
   * @param packed whether the first row packs two documents (tokens 0-6, then 7-11)
   */
  DistillStep(boolean packed) {
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
      att[i] = pad ? 0 : packed && i < T && i % T >= 7 ? 2 : 1;
      m[i] = pad || i % T < 2 ? 0 : 1; // a 2-token prompt and the padding are masked
    }
    ids = manager.create(idv, new Shape(B, T));
    labels = manager.create(labv, new Shape(B, T));
    attention = manager.create(att, new Shape(B, T));
    lossMask = manager.create(m, new Shape(B, T));
  }

  /**
   * Runs the micro-batch {@code passes} times into the same gradients (accumulation, no zeroing
   * between), then copies every student gradient out and zeroes them.
   *
   * @param lossOut receives the last pass's loss
   */
  Map<String, float[]> gradients(int passes, float[] lossOut) {
    KdLoss loss = new KdLoss(new KdLossConfig(KdKind.FORWARD_KL, 2.0, 0.5, 0.5, 5));
    long n = KdLoss.countTokens(lossMask);
    Map<String, float[]> grads = new LinkedHashMap<>();
    try (NDManager step = manager.newSubManager();
        GradientCollector gc = manager.getEngine().newGradientCollector()) {
      for (int k = 0; k < passes; k++) {
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
      }
      for (var e : student.parameters().entrySet()) {
        try (NDArray g = e.getValue().getGradient()) {
          grads.put(e.getKey(), g.toFloatArray());
        }
      }
      gc.zeroGradients();
    }
    return grads;
  }

  @Override
  public void close() {
    student.close();
    teacher.close();
    manager.close();
  }
}
