package dev.distill.trainer.cache;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import dev.distill.trainer.data.Batch;
import dev.distill.trainer.data.Sequence;
import dev.distill.trainer.loss.TeacherTargets;
import dev.distill.trainer.model.CausalLm;
import dev.distill.trainer.model.NoGrad;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.LongConsumer;

/**
 * Writes a teacher cache: the teacher's forward pass (grad mode off, no graph) over the training
 * sequences, shard by shard, each shard on its own ({@link #writeShard}) so that any number of
 * workers can write different shards of one cache; {@link #seal} writes the manifest once all are
 * there.
 *
 * <p>Sequence s of the split goes to shard {@code floor(s * shards / n)}... precisely: shard i
 * holds [i * n / shards, (i + 1) * n / shards).
 */
public final class TeacherPass {

  /**
   * @param topK entries per position
   * @param massBound the mass a position's entries must reach before the rest join the tail, or
   *     null
   * @param shards how many shards
   * @param encoding how log-probabilities are stored
   * @param batchSize sequences per teacher forward pass
   * @param chunk loss positions whose logits are made at once
   */
  public record Settings(
      int topK, Double massBound, int shards, LogProbEncoding encoding, int batchSize, int chunk) {
    public Settings {
      if (topK < 1 || shards < 1 || batchSize < 1 || chunk < 1) {
        throw new IllegalArgumentException(
            "top_k, shards, batch size and chunk must be at least 1, were "
                + topK
                + ", "
                + shards
                + ", "
                + batchSize
                + ", "
                + chunk);
      }
      if (encoding == null) {
        throw new IllegalArgumentException("encoding is required");
      }
    }
  }

  /**
   * What writing one shard did.
   *
   * @param shard its number
   * @param sequences sequences written
   * @param positions loss positions written
   * @param bytes the file's size
   * @param seconds wall time of the forward passes and writes
   */
  public record ShardReport(int shard, int sequences, long positions, long bytes, double seconds) {}

  private final CausalLm teacher;
  private final List<Sequence> sequences;
  private final int padId;
  private final CacheKey key;
  private final Settings settings;
  private final NDManager manager;

  /**
   * @param teacher the teacher, its parameters not requiring gradients
   * @param sequences the training split, in its order
   * @param padId the tokenizer's pad id
   * @param key the cache's key; its vocab is V_c, its top_k the settings'
   */
  public TeacherPass(
      CausalLm teacher,
      List<Sequence> sequences,
      int padId,
      CacheKey key,
      Settings settings,
      NDManager manager) {
    if (key.topK() != settings.topK()) {
      throw new IllegalArgumentException(
          "key top_k " + key.topK() + " and settings " + settings.topK());
    }
    if (key.vocab() > teacher.vocabSize()) {
      throw new IllegalArgumentException(
          "the tokenizer's "
              + key.vocab()
              + " ids exceed the teacher's output "
              + teacher.vocabSize());
    }
    if (settings.topK() > key.vocab()) {
      throw new IllegalArgumentException(
          "top_k " + settings.topK() + " is larger than the vocabulary (" + key.vocab() + ")");
    }
    this.teacher = teacher;
    this.sequences = List.copyOf(sequences);
    this.padId = padId;
    this.key = key;
    this.settings = settings;
    this.manager = manager;
  }

  /** Sequences [from, to) of shard {@code s}. */
  public static int[] range(int sequences, int shards, int s) {
    return new int[] {
      (int) ((long) s * sequences / shards), (int) ((long) (s + 1) * sequences / shards)
    };
  }

  /**
   * Whether shard {@code s} is on disk and verifies (a damaged one is deleted, to be rewritten).
   */
  public boolean isDone(Path dir, int s) {
    return isDone(dir, key, settings.shards(), s);
  }

  /**
   * Whether shard {@code s} of {@code shards} of a cache of {@code key} is on disk and verifies (a
   * damaged one is deleted, to be rewritten); needs no teacher.
   */
  public static boolean isDone(Path dir, CacheKey key, int shards, int s) {
    Path file = dir.resolve(TeacherCache.shardName(s, shards));
    if (!Files.isRegularFile(file)) {
      return false;
    }
    try {
      ShardReader.open(file, key.digest()).close();
      return true;
    } catch (TeacherCacheException e) {
      try {
        Files.deleteIfExists(file);
      } catch (java.io.IOException ignored) {
        // rewriting overwrites it
      }
      return false;
    }
  }

  /**
   * Writes shard {@code s}: nothing of it is visible until it is complete.
   *
   * @param stop asked between forward passes; true abandons the shard (its partial file deleted)
   * @param progress told the sequences written so far in this shard
   * @return what was written, or null when stopped
   */
  public ShardReport writeShard(Path dir, int s, BooleanSupplier stop, LongConsumer progress) {
    long t0 = System.nanoTime();
    int[] r = range(sequences.size(), settings.shards(), s);
    ShardFormat format =
        new ShardFormat(
            ShardFormat.VERSION,
            settings.encoding(),
            ShardFormat.idBytesFor(key.vocab()),
            settings.topK(),
            key.vocab(),
            s,
            settings.shards(),
            r[0],
            r[1] - r[0],
            key.digest());
    try (ShardWriter w =
        new ShardWriter(dir.resolve(TeacherCache.shardName(s, settings.shards())), format)) {
      for (int from = r[0]; from < r[1]; from += settings.batchSize()) {
        if (stop.getAsBoolean()) {
          return null;
        }
        List<Sequence> rows = sequences.subList(from, Math.min(r[1], from + settings.batchSize()));
        for (TeacherTargets t : forward(rows)) {
          w.append(t);
        }
        progress.accept(Math.min(r[1], from + settings.batchSize()) - r[0]);
      }
      long bytes = w.finish();
      return new ShardReport(s, r[1] - r[0], w.positions(), bytes, (System.nanoTime() - t0) / 1e9);
    }
  }

  /** Writes the manifest; every shard must be done. */
  public TeacherCache.Manifest seal(Path dir) {
    return seal(dir, key, settings.shards(), sequences.size());
  }

  /**
   * Writes the manifest of a cache of {@code key} whose {@code shards} shards hold {@code
   * sequences} sequences; every shard must be done. Needs no teacher.
   */
  public static TeacherCache.Manifest seal(Path dir, CacheKey key, int shards, int sequences) {
    return TeacherCache.seal(dir, key, shards, sequences);
  }

  /** The entries of some rows, one {@link TeacherTargets} per row (its loss positions in order). */
  List<TeacherTargets> forward(List<Sequence> rows) {
    Batch b = Batch.of(rows, 0, padId);
    int t = b.seqLen();
    List<TeacherTargets> out = new ArrayList<>();
    try (NDManager step = manager.newSubManager();
        NoGrad ignored = NoGrad.enter()) {
      Shape bt = new Shape(b.batchSize(), t);
      NDArray ids = step.create(b.inputIds(), bt); // (B, T)
      NDArray attention = step.create(b.attentionMask(), bt); // (B, T)
      NDArray hidden = teacher.hidden(ids, attention); // (B, T, D)
      long d = hidden.getShape().get(2);
      NDArray flat = hidden.reshape((long) b.batchSize() * t, d); // (B*T, D)
      List<Long> positions = new ArrayList<>();
      int[] perRow = new int[b.batchSize()];
      for (int i = 0; i < b.lossMask().length; i++) {
        if (b.lossMask()[i] != 0f) {
          positions.add((long) i);
          perRow[i / t]++;
        }
      }
      List<TeacherTargets> parts = new ArrayList<>();
      for (int from = 0; from < positions.size(); from += settings.chunk()) {
        int to = Math.min(positions.size(), from + settings.chunk());
        long[] at = positions.subList(from, to).stream().mapToLong(Long::longValue).toArray();
        try (NDScope scope = new NDScope()) {
          scope.suppressNotUsedWarning();
          NDArray index = step.create(at).expandDims(1).broadcast(new Shape(at.length, d));
          NDArray rowsHidden = flat.gather(index, 0).expandDims(0); // (1, c, D)
          NDArray logits = teacher.logits(rowsHidden); // (1, c, V_t)
          parts.add(
              TopKExtractor.extract(logits, key.vocab(), settings.topK(), settings.massBound()));
        }
      }
      TeacherTargets all = TeacherTargets.concat(parts, key.vocab(), settings.topK());
      int at = 0;
      for (int n : perRow) {
        out.add(all.slice(at, at + n));
        at += n;
      }
    }
    return out;
  }
}
