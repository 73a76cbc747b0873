package dev.distill.trainer.data;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Endless training batches: each epoch visits the rows in an order shuffled from {@code (seed,
 * epoch)} alone, {@code batchSize} at a time; the rows left over at the end of an epoch (fewer than
 * a batch) are skipped, so every batch has {@code batchSize} rows. {@link #state()} and {@link
 * #restore} save and restore the position exactly: after a restore, {@link #next()} returns the
 * same batches as the original run would have.
 */
public final class BatchIterator {

  private final List<Sequence> rows;
  private final int batchSize;
  private final long seed;
  private final int padId;
  private final int seqLen;
  private final boolean shuffle;

  private long epoch;
  private int index;
  private int[] order;

  /**
   * @param rows the training rows (at least {@code batchSize})
   * @param batchSize B
   * @param seed shuffle seed
   * @param padId the tokenizer's pad id
   * @param seqLen fixed T for every batch, or 0 to pad each batch to its longest row
   * @param shuffle false keeps the rows in order (for tests and debugging)
   */
  public BatchIterator(
      List<Sequence> rows, int batchSize, long seed, int padId, int seqLen, boolean shuffle) {
    if (batchSize < 1) {
      throw new IllegalArgumentException("batch size must be at least 1, was " + batchSize);
    }
    if (rows.size() < batchSize) {
      throw new IllegalArgumentException(
          "only " + rows.size() + " training sequences for a batch of " + batchSize);
    }
    this.rows = List.copyOf(rows);
    this.batchSize = batchSize;
    this.seed = seed;
    this.padId = padId;
    this.seqLen = seqLen;
    this.shuffle = shuffle;
    this.order = order(0);
  }

  /** Batches in one epoch. */
  public int batchesPerEpoch() {
    return rows.size() / batchSize;
  }

  /** The next batch, moving to the next epoch when this one has too few rows left. */
  public Batch next() {
    return nextIndexed().batch();
  }

  /**
   * A batch with the indices of its rows in the list given to the constructor.
   *
   * @param batch the padded batch
   * @param rows (B) the index of each row
   */
  public record Indexed(Batch batch, int[] rows) {}

  /** {@link #next()} with the rows' indices (a teacher cache is keyed by them). */
  public Indexed nextIndexed() {
    if (index + batchSize > rows.size()) {
      epoch++;
      index = 0;
      order = order(epoch);
    }
    List<Sequence> picked = new ArrayList<>(batchSize);
    int[] which = new int[batchSize];
    for (int i = 0; i < batchSize; i++) {
      which[i] = order[index + i];
      picked.add(rows.get(which[i]));
    }
    index += batchSize;
    return new Indexed(Batch.of(picked, seqLen, padId), which);
  }

  public LoaderState state() {
    return new LoaderState(epoch, index);
  }

  public void restore(LoaderState state) {
    if (state.index() > rows.size()) {
      throw new IllegalArgumentException(
          "loader state index " + state.index() + " is beyond the " + rows.size() + " rows");
    }
    epoch = state.epoch();
    index = state.index();
    order = order(epoch);
  }

  private int[] order(long e) {
    int n = rows.size();
    int[] o = new int[n];
    for (int i = 0; i < n; i++) {
      o[i] = i;
    }
    if (shuffle) {
      // java.util.Random's sequence is fixed by its specification: the same on every JVM
      Random r = new Random(Split.mix(seed) ^ Split.mix(e + 0x9E3779B97F4A7C15L));
      for (int i = n - 1; i > 0; i--) {
        int j = r.nextInt(i + 1);
        int tmp = o[i];
        o[i] = o[j];
        o[j] = tmp;
      }
    }
    return o;
  }

  /**
   * All rows in order as batches of at most {@code batchSize} (the last may be smaller), for
   * validation.
   */
  public static List<Batch> sequential(List<Sequence> rows, int batchSize, int padId, int seqLen) {
    List<Batch> out = new ArrayList<>();
    for (int i = 0; i < rows.size(); i += batchSize) {
      out.add(Batch.of(rows.subList(i, Math.min(i + batchSize, rows.size())), seqLen, padId));
    }
    return out;
  }
}
