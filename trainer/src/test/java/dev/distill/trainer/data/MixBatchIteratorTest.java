package dev.distill.trainer.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.json.JsonMapper;

/**
 * A dataset mix's loader: each source's share over 1,000 batches is within 2% of its weight, the
 * schedule is a function of the seed, and a restored state continues exactly.
 */
class MixBatchIteratorTest {

  private static final int BATCH = 8;
  private static final int BATCHES = 1000;

  /** {@code n} rows of source {@code tag}: each row's first id names its source and index. */
  private static List<Sequence> rows(int tag, int n, int length) {
    List<Sequence> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int[] ids = new int[length];
      Arrays.fill(ids, 1000 * tag + i);
      boolean[] target = new boolean[length];
      Arrays.fill(target, 1, length, true);
      out.add(Sequence.of(ids, target));
    }
    return out;
  }

  private static List<List<Sequence>> sources() {
    // sizes unlike the weights, so each source wraps its epochs at its own pace
    return List.of(rows(1, 37, 6), rows(2, 101, 9), rows(3, 13, 4));
  }

  private static MixBatchIterator mix(long seed) {
    return new MixBatchIterator(sources(), new double[] {5, 3, 2}, BATCH, seed, 0, 0);
  }

  /** The source of each row handed out (from its first id). */
  private static List<Integer> drawSources(MixBatchIterator it, int batches) {
    List<Integer> out = new ArrayList<>();
    for (int b = 0; b < batches; b++) {
      Batch batch = it.nextIndexed().batch();
      for (int r = 0; r < BATCH; r++) {
        out.add((int) batch.inputIds()[r * batch.seqLen()] / 1000 - 1);
      }
    }
    return out;
  }

  @Test
  void sharesOverAThousandBatchesAreWithinTwoPercentOfTheWeights() {
    for (long seed : new long[] {1, 1234, 987_654_321L}) {
      List<Integer> drawn = drawSources(mix(seed), BATCHES);
      double[] share = new double[3];
      drawn.forEach(s -> share[s] += 1.0 / drawn.size());
      assertThat(share[0]).as("seed %d, source 0", seed).isCloseTo(0.5, within(0.02));
      assertThat(share[1]).as("seed %d, source 1", seed).isCloseTo(0.3, within(0.02));
      assertThat(share[2]).as("seed %d, source 2", seed).isCloseTo(0.2, within(0.02));
      // and over the first 100 batches already
      double first = drawn.subList(0, 800).stream().filter(s -> s == 0).count() / 800.0;
      assertThat(first).isCloseTo(0.5, within(0.02));
    }
  }

  @Test
  void theScheduleIsAFunctionOfTheSeedAndMixesWithinBatches() {
    assertThat(drawSources(mix(7), 50)).isEqualTo(drawSources(mix(7), 50));
    assertThat(drawSources(mix(7), 50)).isNotEqualTo(drawSources(mix(8), 50));
    // no batch is one source only: the draws interleave
    List<Integer> d = drawSources(mix(7), 50);
    for (int b = 0; b < 50; b++) {
      assertThat(d.subList(b * BATCH, (b + 1) * BATCH).stream().distinct().count())
          .isGreaterThan(1);
    }
  }

  @Test
  void aRestoredStateContinuesExactlyAsTheUninterruptedRun() {
    MixBatchIterator straight = mix(42);
    List<long[]> expected = new ArrayList<>();
    List<int[]> expectedRows = new ArrayList<>();
    for (int b = 0; b < BATCHES; b++) {
      BatchIterator.Indexed x = straight.nextIndexed();
      expected.add(x.batch().inputIds());
      expectedRows.add(x.rows());
    }

    MixBatchIterator first = mix(42);
    for (int b = 0; b < BATCHES / 2; b++) {
      first.nextIndexed();
    }
    // through the checkpoint's JSON, as a resume reads it
    JsonMapper json = JsonMapper.builder().build();
    MixState saved = json.readValue(json.writeValueAsString(first.state()), MixState.class);
    MixBatchIterator resumed = mix(42);
    resumed.restore(saved);
    for (int b = BATCHES / 2; b < BATCHES; b++) {
      BatchIterator.Indexed x = resumed.nextIndexed();
      assertThat(x.batch().inputIds()).as("batch %d", b).isEqualTo(expected.get(b));
      assertThat(x.rows()).as("rows of batch %d", b).isEqualTo(expectedRows.get(b));
    }
    assertThat(resumed.tokensPerSource()).isEqualTo(straight.tokensPerSource());
    assertThat(resumed.state()).isEqualTo(straight.state());
  }

  @Test
  void tokensPerSourceCountTheLossTokensOfEachSourcesRows() {
    MixBatchIterator it = mix(3);
    drawSources(it, 100);
    long[] seqs = it.sequencesPerSource();
    assertThat(Arrays.stream(seqs).sum()).isEqualTo(100L * BATCH);
    // rows of source s have length 6, 9, 4 with every position but the first a target
    assertThat(it.tokensPerSource()).containsExactly(seqs[0] * 5, seqs[1] * 8, seqs[2] * 3);
  }

  @Test
  void rowIndicesPointIntoTheConcatenatedSources() {
    List<Sequence> all = new ArrayList<>();
    sources().forEach(all::addAll);
    MixBatchIterator it = mix(5);
    for (int b = 0; b < 20; b++) {
      BatchIterator.Indexed x = it.nextIndexed();
      for (int r = 0; r < BATCH; r++) {
        assertThat((long) all.get(x.rows()[r]).ids()[0])
            .isEqualTo(x.batch().inputIds()[r * x.batch().seqLen()]);
      }
    }
  }

  @Test
  void badMixesAreRefused() {
    assertThatThrownBy(
            () -> new MixBatchIterator(List.of(rows(1, 3, 4)), new double[] {1}, 2, 1, 0, 0))
        .hasMessageContaining("at least 2 sources");
    assertThatThrownBy(
            () ->
                new MixBatchIterator(
                    List.of(rows(1, 3, 4), List.of()), new double[] {1, 1}, 2, 1, 0, 0))
        .hasMessageContaining("mix source 1 has no training sequences");
    assertThatThrownBy(
            () ->
                new MixBatchIterator(
                    List.of(rows(1, 3, 4), rows(2, 3, 4)), new double[] {1, 0}, 2, 1, 0, 0))
        .hasMessageContaining("mix source 1: weight must be above 0");
  }
}
