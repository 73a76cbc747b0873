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
 * The native path ({@link Gemma2Model#setNativeKernels}: fused C kernels, the backward by hand)
 * against the composed path with autograd: a distillation step's loss and every student gradient,
 * and the teacher's forward without autograd, on a 3-layer grouped-query model with soft-caps whose
 * sequences are longer than the sliding window, packed and padded. Its weights, norms included, are
 * perturbed from the init so that every term of every kernel counts.
 */
class NativePathTest {

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
    Gemma2Config config = Gemma2ModelTest.config(3, 5);
    assertThat(config.attnLogitSoftcapping()).isNotNull();
    assertThat(config.groupSize()).isGreaterThan(1);
    student = Gemma2Model.init(config, manager, 7);
    teacher = Gemma2Model.init(Gemma2ModelTest.config(2, 5), manager, 8);
    teacher.requireGradients(false);
    perturb(student, 11);
    perturb(teacher, 12);
    Random r = new Random(5);
    long[] idv = new long[B * T];
    long[] labv = new long[B * T];
    float[] att = new float[B * T];
    float[] m = new float[B * T];
    for (int i = 0; i < B * T; i++) {
      boolean pad = i >= T && i % T >= 9; // the second row is 9 tokens long
      idv[i] = pad ? 0 : 1 + r.nextInt(49);
      labv[i] = r.nextInt(50);
      // the first row packs two documents (1 then 2); the second is one document and padding
      att[i] = pad ? 0 : i < T && i % T >= 7 ? 2 : 1;
      m[i] = pad || i % T < 2 ? 0 : 1; // a 2-token prompt and the padding are masked
    }
    ids = manager.create(idv, new Shape(B, T));
    labels = manager.create(labv, new Shape(B, T));
    attention = manager.create(att, new Shape(B, T));
    lossMask = manager.create(m, new Shape(B, T));
  }

  /** Adds N(0, 0.1^2)-ish noise to every weight: the init's zero norms would hide (1 + w). */
  private void perturb(Gemma2Model model, long seed) {
    Random r = new Random(seed);
    try (NoGrad ignored = NoGrad.enter()) {
      for (NDArray p : model.parameters().values()) {
        float[] noise = new float[(int) p.getShape().size()];
        for (int i = 0; i < noise.length; i++) {
          noise[i] = (float) (0.1 * r.nextGaussian());
        }
        try (NDArray n = manager.create(noise, p.getShape())) {
          p.addi(n);
        }
      }
    }
  }

  @AfterEach
  void close() {
    student.close();
    teacher.close();
    manager.close();
  }

  /** One micro-batch's backward as the training recipe runs it; the gradients, copied out. */
  private Map<String, float[]> step(boolean nativeKernels, float[] lossOut) {
    student.setNativeKernels(nativeKernels);
    teacher.setNativeKernels(nativeKernels);
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
  void nativeGradientsEqualTheComposedOnes() {
    float[] composedLoss = new float[1];
    float[] nativeLoss = new float[1];
    Map<String, float[]> composed = step(false, composedLoss);
    Map<String, float[]> fused = step(true, nativeLoss);
    assertThat(nativeLoss[0])
        .isCloseTo(composedLoss[0], org.assertj.core.data.Offset.offset(1e-5f));
    assertThat(fused.keySet()).isEqualTo(composed.keySet());
    for (String name : composed.keySet()) {
      float[] a = composed.get(name);
      float[] b = fused.get(name);
      double norm = 0;
      double worst = 0;
      for (int i = 0; i < a.length; i++) {
        norm = Math.max(norm, Math.abs(a[i]));
        worst = Math.max(worst, Math.abs(a[i] - b[i]));
      }
      assertThat(norm).as("%s has a gradient", name).isGreaterThan(0);
      assertThat(worst / norm)
          .as("%s: largest |composed - native| relative to the largest |composed|", name)
          .isLessThan(2e-5);
    }
  }

  @Test
  void aSecondStepAddsToTheGradientsTheFirstMade() {
    // the first native backward creates the gradients of the layers' weights; the second (no
    // zeroing between: gradient accumulation over micro-batches) must add to them
    float[] loss = new float[1];
    student.setNativeKernels(true);
    Map<String, float[]> once = step(true, loss);
    Map<String, float[]> twice = new LinkedHashMap<>();
    KdLoss kd = new KdLoss(new KdLossConfig(KdKind.FORWARD_KL, 2.0, 0.5, 0.5, 5));
    long n = KdLoss.countTokens(lossMask);
    try (NDManager step = manager.newSubManager();
        GradientCollector gc = manager.getEngine().newGradientCollector()) {
      for (int k = 0; k < 2; k++) {
        NDArray teacherHidden;
        try (NoGrad ignored = NoGrad.enter()) {
          teacherHidden = teacher.hidden(ids, attention);
        }
        NDArray hidden = student.hidden(ids, attention);
        kd.backward(
            gc, new KdLoss.Hidden(student, hidden, teacher, teacherHidden), labels, lossMask, n);
        student.finishBackward();
      }
      for (var e : student.parameters().entrySet()) {
        try (NDArray g = e.getValue().getGradient()) {
          twice.put(e.getKey(), g.toFloatArray());
        }
      }
      gc.zeroGradients();
    }
    for (String name : once.keySet()) {
      float[] a = once.get(name);
      float[] b = twice.get(name);
      double norm = 0;
      double worst = 0;
      for (int i = 0; i < a.length; i++) {
        norm = Math.max(norm, Math.abs(a[i]));
        worst = Math.max(worst, Math.abs(2 * a[i] - b[i]));
      }
      assertThat(worst / norm).as("%s: two passes give twice one pass", name).isLessThan(1e-5);
    }
  }

  @Test
  void aForwardWithoutAutogradEqualsTheComposedOneAndKeepsNothing() {
    try (NDManager step = manager.newSubManager()) {
      float[] composed;
      float[] fused;
      try (NoGrad ignored = NoGrad.enter()) {
        teacher.setNativeKernels(false);
        composed = teacher.hidden(ids, attention).toFloatArray();
        teacher.setNativeKernels(true);
        fused = teacher.hidden(ids, attention).toFloatArray();
      }
      double norm = 0;
      double worst = 0;
      for (int i = 0; i < composed.length; i++) {
        norm = Math.max(norm, Math.abs(composed[i]));
        worst = Math.max(worst, Math.abs(composed[i] - fused[i]));
      }
      assertThat(worst / norm).isLessThan(1e-5);
      teacher.finishBackward(); // nothing pending: no effect, no error
    }
  }
}
