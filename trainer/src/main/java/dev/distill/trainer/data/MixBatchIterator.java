package dev.distill.trainer.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Endless training batches drawn from several sources by weight. The source of the {@code n}-th
 * sequence is a function of {@code (seed, n)} alone: a Weyl sequence {@code u_n = frac(s + n·φ)} (s
 * from the seed, φ the golden ratio's fraction, in exact 64-bit fixed point) falls into the
 * source's slice of [0, 1) sized by its weight. Its points are spread evenly, so the share of each
 * source over the first N sequences is within O(log N / N) of its weight (not only in expectation).
 * Each source has its own cursor: its rows in an order shuffled from {@code (seed, source, epoch)},
 * a new epoch of that source when its rows run out. {@link #state()} and {@link #restore} save and
 * restore every cursor exactly.
 */
public final class MixBatchIterator {

  /** 2^64 / φ: the golden ratio's fraction in 64-bit fixed point. */
  private static final long PHI = 0x9E3779B97F4A7C15L;

  private final List<List<Sequence>> sources;
  private final int[] offsets;
  private final long[] bounds;
  private final int batchSize;
  private final long seed;
  private final int padId;
  private final int seqLen;

  private long drawn;
  private final long[] epoch;
  private final int[] index;
  private final long[] tokens;
  private final int[][] order;

  /**
   * @param sources each source's training rows (at least one row each)
   * @param weights each source's weight, above 0
   * @param batchSize B
   * @param seed seed of the schedule and of each source's order
   * @param padId the tokenizer's pad id
   * @param seqLen fixed T, or 0 to pad each batch to its longest row
   */
  public MixBatchIterator(
      List<List<Sequence>> sources,
      double[] weights,
      int batchSize,
      long seed,
      int padId,
      int seqLen) {
    if (batchSize < 1) {
      throw new IllegalArgumentException("batch size must be at least 1, was " + batchSize);
    }
    if (sources.size() != weights.length || sources.size() < 2) {
      throw new IllegalArgumentException(
          "a mix needs at least 2 sources with one weight each, had "
              + sources.size()
              + " sources and "
              + weights.length
              + " weights");
    }
    int k = sources.size();
    this.sources = new ArrayList<>(k);
    this.offsets = new int[k];
    int offset = 0;
    double sum = 0;
    for (int s = 0; s < k; s++) {
      if (sources.get(s).isEmpty()) {
        throw new IllegalArgumentException("mix source " + s + " has no training sequences");
      }
      if (!(weights[s] > 0) || Double.isInfinite(weights[s])) {
        throw new IllegalArgumentException("mix source " + s + ": weight must be above 0");
      }
      this.sources.add(List.copyOf(sources.get(s)));
      offsets[s] = offset;
      offset += sources.get(s).size();
      sum += weights[s];
    }
    // the upper end of each source's slice of [0, 2^64) as an unsigned 64-bit number
    this.bounds = new long[k];
    double acc = 0;
    for (int s = 0; s < k; s++) {
      acc += weights[s];
      bounds[s] = s == k - 1 ? -1L : unsignedOf(acc / sum);
    }
    this.batchSize = batchSize;
    this.seed = seed;
    this.padId = padId;
    this.seqLen = seqLen;
    this.epoch = new long[k];
    this.index = new int[k];
    this.tokens = new long[k];
    this.order = new int[k][];
    for (int s = 0; s < k; s++) {
      order[s] = order(s, 0);
    }
  }

  /** The source of sequence {@code n} of the run: a function of {@code (seed, n)} only. */
  public int sourceOf(long n) {
    long u = Split.mix(seed ^ 0x5DEECE66DL) + n * PHI; // wraps modulo 2^64
    for (int s = 0; s < bounds.length - 1; s++) {
      if (Long.compareUnsigned(u, bounds[s]) < 0) {
        return s;
      }
    }
    return bounds.length - 1;
  }

  /**
   * The next batch with each row's index in the concatenation of the sources (source 0's rows, then
   * source 1's, ...).
   */
  public BatchIterator.Indexed nextIndexed() {
    List<Sequence> picked = new ArrayList<>(batchSize);
    int[] which = new int[batchSize];
    for (int i = 0; i < batchSize; i++) {
      int s = sourceOf(drawn++);
      List<Sequence> rows = sources.get(s);
      if (index[s] >= rows.size()) {
        epoch[s]++;
        index[s] = 0;
        order[s] = order(s, epoch[s]);
      }
      int row = order[s][index[s]++];
      Sequence seq = rows.get(row);
      tokens[s] += seq.lossTokens();
      which[i] = offsets[s] + row;
      picked.add(seq);
    }
    return new BatchIterator.Indexed(Batch.of(picked, seqLen, padId), which);
  }

  /** Loss tokens handed out per source so far (a copy). */
  public long[] tokensPerSource() {
    return tokens.clone();
  }

  /** Sequences handed out per source so far (a copy). */
  public long[] sequencesPerSource() {
    long[] out = new long[sources.size()];
    for (int s = 0; s < out.length; s++) {
      out[s] = epoch[s] * sources.get(s).size() + index[s];
    }
    return out;
  }

  public MixState state() {
    List<MixState.Cursor> cursors = new ArrayList<>();
    for (int s = 0; s < sources.size(); s++) {
      cursors.add(new MixState.Cursor(epoch[s], index[s], tokens[s]));
    }
    return new MixState(drawn, cursors);
  }

  public void restore(MixState state) {
    if (state.cursors().size() != sources.size()) {
      throw new IllegalArgumentException(
          "the mix state has " + state.cursors().size() + " sources, this mix " + sources.size());
    }
    for (int s = 0; s < sources.size(); s++) {
      MixState.Cursor c = state.cursors().get(s);
      if (c.position() > sources.get(s).size()) {
        throw new IllegalArgumentException(
            "mix source "
                + s
                + ": position "
                + c.position()
                + " is beyond its "
                + sources.get(s).size()
                + " rows");
      }
    }
    drawn = state.drawn();
    for (int s = 0; s < sources.size(); s++) {
      MixState.Cursor c = state.cursors().get(s);
      epoch[s] = c.epoch();
      index[s] = (int) c.position();
      tokens[s] = c.tokens();
      order[s] = order(s, epoch[s]);
    }
  }

  private int[] order(int source, long e) {
    int n = sources.get(source).size();
    int[] o = new int[n];
    Arrays.setAll(o, i -> i);
    Random r =
        new Random(
            Split.mix(seed)
                ^ Split.mix(source * 0xBF58476D1CE4E5B9L + 1)
                ^ Split.mix(e + 0x9E3779B97F4A7C15L));
    for (int i = n - 1; i > 0; i--) {
      int j = r.nextInt(i + 1);
      int tmp = o[i];
      o[i] = o[j];
      o[j] = tmp;
    }
    return o;
  }

  /** {@code x} in [0, 1] as an unsigned 64-bit fraction of 2^64 (1 maps to 2^64 - 1). */
  private static long unsignedOf(double x) {
    if (x >= 1.0) {
      return -1L;
    }
    // 53 bits of precision are plenty for a share
    return ((long) (x * 0x1.0p53)) << 11;
  }
}
