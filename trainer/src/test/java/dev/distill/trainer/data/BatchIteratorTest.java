package dev.distill.trainer.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class BatchIteratorTest {

  /** Row i holds the tokens (i, i+1000); its first id identifies it. */
  private static List<Sequence> rows(int n) {
    List<Sequence> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(
          Sequence.of(
              new int[] {i, i + 1000, i % 3 == 0 ? 7 : 8}, new boolean[] {false, true, true}));
    }
    return out;
  }

  private static List<Long> firstIds(Batch b) {
    List<Long> ids = new ArrayList<>();
    for (int r = 0; r < b.batchSize(); r++) {
      ids.add(b.inputIds()[r * b.seqLen()]);
    }
    return ids;
  }

  @Test
  void restoreContinuesTheExactSameBatches() {
    BatchIterator straight = new BatchIterator(rows(23), 4, 99, 0, 0, true);
    List<List<Long>> expected = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      expected.add(firstIds(straight.next()));
    }
    BatchIterator first = new BatchIterator(rows(23), 4, 99, 0, 0, true);
    for (int i = 0; i < 7; i++) {
      assertThat(firstIds(first.next())).isEqualTo(expected.get(i));
    }
    LoaderState saved = first.state();
    assertThat(saved).isEqualTo(new LoaderState(1, 8)); // 5 batches per epoch, 3 rows skipped
    BatchIterator resumed = new BatchIterator(rows(23), 4, 99, 0, 0, true);
    resumed.restore(saved);
    for (int i = 7; i < 20; i++) {
      assertThat(firstIds(resumed.next())).as("batch " + i).isEqualTo(expected.get(i));
    }
  }

  @Test
  void eachEpochVisitsDistinctRowsInItsOwnOrder() {
    BatchIterator it = new BatchIterator(rows(20), 5, 1, 0, 0, true);
    assertThat(it.batchesPerEpoch()).isEqualTo(4);
    List<Long> epoch0 = new ArrayList<>();
    List<Long> epoch1 = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      epoch0.addAll(firstIds(it.next()));
    }
    for (int i = 0; i < 4; i++) {
      epoch1.addAll(firstIds(it.next()));
    }
    assertThat(new HashSet<>(epoch0)).hasSize(20);
    assertThat(new HashSet<>(epoch1)).isEqualTo(new HashSet<>(epoch0));
    assertThat(epoch1).isNotEqualTo(epoch0);
    List<Long> inOrder = new ArrayList<>();
    for (long i = 0; i < 20; i++) {
      inOrder.add(i);
    }
    assertThat(epoch0).isNotEqualTo(inOrder);
    // another seed, another order
    BatchIterator other = new BatchIterator(rows(20), 5, 2, 0, 0, true);
    List<Long> otherEpoch0 = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      otherEpoch0.addAll(firstIds(other.next()));
    }
    assertThat(otherEpoch0).isNotEqualTo(epoch0);
  }

  @Test
  void sequentialBatchesKeepEveryRow() {
    List<Batch> batches = BatchIterator.sequential(rows(10), 4, 0, 0);
    assertThat(batches).hasSize(3);
    assertThat(batches.get(2).batchSize()).isEqualTo(2);
    Set<Long> seen = new HashSet<>();
    batches.forEach(b -> seen.addAll(firstIds(b)));
    assertThat(seen).hasSize(10);
  }

  @Test
  void tooFewRowsIsAClearError() {
    assertThatThrownBy(() -> new BatchIterator(rows(3), 4, 0, 0, 0, true))
        .hasMessageContaining("3 training sequences");
  }
}
