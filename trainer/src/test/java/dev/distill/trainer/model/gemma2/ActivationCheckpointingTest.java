package dev.distill.trainer.model.gemma2;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.distill.trainer.model.NoGrad;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Checkpointed layers against the plain path: one distillation step's loss and every student
 * gradient, on a 3-layer model whose sequences are longer than the sliding window and padded.
 */
class ActivationCheckpointingTest {

  private DistillStep batch;
  private Gemma2Model student;

  @BeforeEach
  void open() {
    batch = new DistillStep(false);
    student = batch.student;
  }

  @AfterEach
  void close() {
    batch.close();
  }

  /** One micro-batch's backward as the training recipe runs it; the gradients, copied out. */
  private Map<String, float[]> step(boolean checkpointing, float[] lossOut) {
    student.setActivationCheckpointing(checkpointing);
    return batch.gradients(1, lossOut);
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
    try (NDManager step = batch.manager.newSubManager()) {
      NDArray plain;
      NDArray ckpt;
      try (NoGrad ignored = NoGrad.enter()) {
        ckpt = student.hidden(batch.ids, batch.attention);
        student.setActivationCheckpointing(false);
        plain = student.hidden(batch.ids, batch.attention);
      }
      assertThat(ckpt.toFloatArray()).containsExactly(plain.toFloatArray());
      student.finishBackward(); // nothing pending: no effect, no error
    }
  }
}
