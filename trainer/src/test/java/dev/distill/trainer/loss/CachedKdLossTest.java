package dev.distill.trainer.loss;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The tail term on a worked example, computed by hand (plain Python doubles, pasted):
 *
 * <pre>
 * V = 4, one position. Teacher P = (0.3, 0.1, 0.5, 0.1); the cache keeps k = 2: ids (2, 0) with
 * log-probs (log 0.5, log 0.3) and the tail log 0.2 (ids 1 and 3).
 * Student logits z = (1, 0, 2, -1): Q = (0.236882818, 0.087144319, 0.643914260, 0.032058603),
 * q_tail = Q(1) + Q(3) = 0.119202922.
 * forward KL, buckets: 0.5 log(0.5 / Q(2)) + 0.3 log(0.3 / Q(0)) + 0.2 log(0.2 / q_tail) = 0.047884346993
 * reverse KL, buckets: Q(2) log(Q(2)/0.5) + Q(0) log(Q(0)/0.3) + q_tail log(q_tail/0.2)  = 0.045240874346
 * JSD(0.5), buckets: 0.011566690250
 * forward KL over all 4 ids: 0.071907248385; the gap 0.024022901392 is
 *   p_tail * KL((0.5, 0.5) || (Q(1), Q(3)) / q_tail), as the bound in docs/teacher-cache.md says
 * CE of label 2: 0.440189698561
 * </pre>
 */
class CachedKdLossTest {

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

  private static TeacherTargets worked(int k) {
    // slot 3 of 3 unused when k = 3: the loss must ignore it
    int[] ids = new int[k];
    float[] lp = new float[k];
    ids[0] = 2;
    ids[1] = 0;
    lp[0] = (float) Math.log(0.5);
    lp[1] = (float) Math.log(0.3);
    return new TeacherTargets(4, 1, k, new int[] {2}, ids, lp, new float[] {(float) Math.log(0.2)});
  }

  private LossParts loss(KdKind kind, double ratio, TeacherTargets targets) {
    NDArray z = manager.create(new float[] {1, 0, 2, -1}, new Shape(1, 1, 4));
    NDArray labels = manager.create(new long[] {2}, new Shape(1, 1));
    NDArray mask = manager.create(new float[] {1}, new Shape(1, 1));
    return new KdLoss(new KdLossConfig(kind, 1.0, ratio, 0.5, 4))
        .referenceCached(z, targets, labels, mask, 1);
  }

  @Test
  void tailBucketMatchesTheWorkedExample() {
    for (int k : new int[] {2, 3}) {
      assertThat(loss(KdKind.FORWARD_KL, 1.0, worked(k)).kd().getFloat())
          .as("forward KL, k slots %d", k)
          .isCloseTo(0.047884346993f, within((float) TOL));
      assertThat(loss(KdKind.REVERSE_KL, 1.0, worked(k)).kd().getFloat())
          .isCloseTo(0.045240874346f, within((float) TOL));
      assertThat(loss(KdKind.JSD, 1.0, worked(k)).kd().getFloat())
          .isCloseTo(0.011566690250f, within((float) TOL));
    }
    LossParts mixed = loss(KdKind.FORWARD_KL, 0.6, worked(2));
    assertThat(mixed.ce().getFloat()).isCloseTo(0.440189698561f, within((float) TOL));
    assertThat(mixed.total().getFloat())
        .isCloseTo((float) (0.6 * 0.047884346993 + 0.4 * 0.440189698561), within((float) TOL));
  }

  @Test
  void withoutTheTailTermTheValueWouldDiffer() {
    // the same entries with the tail claimed empty: a different number, so the tail term counts
    TeacherTargets noTail =
        new TeacherTargets(
            4,
            1,
            2,
            new int[] {2},
            new int[] {2, 0},
            new float[] {(float) Math.log(0.5), (float) Math.log(0.3)},
            new float[] {TeacherTargets.NO_TAIL});
    assertThat(loss(KdKind.FORWARD_KL, 1.0, noTail).kd().getFloat())
        .isNotCloseTo(0.047884346993f, within(1e-3f));
  }

  @Test
  void temperatureOtherThanOneIsRefused() {
    NDArray z = manager.create(new float[] {1, 0, 2, -1}, new Shape(1, 1, 4));
    NDArray labels = manager.create(new long[] {2}, new Shape(1, 1));
    NDArray mask = manager.create(new float[] {1}, new Shape(1, 1));
    KdLoss hot = new KdLoss(new KdLossConfig(KdKind.FORWARD_KL, 2.0, 0.5, 0.5, 4));
    assertThatThrownBy(() -> hot.referenceCached(z, worked(2), labels, mask, 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("temperature 2.0 with a teacher cache");
  }

  @Test
  void aCacheOfOtherPositionsIsRefused() {
    NDArray z = manager.create(new float[] {1, 0, 2, -1, 0, 0, 0, 0}, new Shape(1, 2, 4));
    NDArray labels = manager.create(new long[] {2, 1}, new Shape(1, 2));
    NDArray mask = manager.create(new float[] {1, 1}, new Shape(1, 2));
    KdLoss kd = new KdLoss(new KdLossConfig(KdKind.FORWARD_KL, 1.0, 0.5, 0.5, 4));
    assertThatThrownBy(() -> kd.referenceCached(z, worked(2), labels, mask, 2))
        .hasMessageContaining("holds 1 positions for a batch of 2 loss tokens");
  }
}
