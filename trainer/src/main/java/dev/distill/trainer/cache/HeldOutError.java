package dev.distill.trainer.cache;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.distill.trainer.data.Batch;
import dev.distill.trainer.data.Sequence;
import dev.distill.trainer.loss.TeacherTargets;
import dev.distill.trainer.model.CausalLm;
import dev.distill.trainer.model.NoGrad;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.stream.Stream;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * The cache's approximation error measured on held-out sequences: the same pass (same top-k, mass
 * bound and encoding, so the same rounding) writes them into a scratch cache, which is read back
 * and compared with the teacher's full distribution. Per loss position, KL(P || P^) where P is the
 * teacher's softmax over the tokenizer's ids {@code [0, V_c)} and P^ the reconstruction: the stored
 * top-k probabilities, the tail mass spread evenly over the other ids, renormalised (q16 rounding
 * may leave the sum a hair off 1).
 *
 * @param positions loss positions measured
 * @param meanKl mean KL(P || P^) in nats per position
 * @param meanTailMass mean probability outside the stored entries
 */
public record HeldOutError(long positions, double meanKl, double meanTailMass) {

  /**
   * Its file in a cache directory: a pass that runs as tasks measures it in shard 0's task (which
   * has the teacher loaded) and its seal, which loads no teacher, reports it from here.
   */
  public static final String FILE = "held-out-error.json";

  private static final ObjectMapper JSON = JsonMapper.builder().build();

  /** The file's content: NaN (no position) is written as null. */
  private record Stored(
      @JsonProperty("positions") long positions,
      @JsonProperty("mean_kl") Double meanKl,
      @JsonProperty("mean_tail_mass") Double meanTailMass) {}

  /** Writes {@link #FILE} into {@code dir}, whole or not at all (a rename). */
  public void save(Path dir) {
    Path file = dir.resolve(FILE);
    Path tmp = dir.resolve(FILE + "." + UUID.randomUUID() + ".tmp");
    try {
      Files.createDirectories(dir);
      JSON.writeValue(
          tmp.toFile(),
          new Stored(
              positions,
              Double.isFinite(meanKl) ? meanKl : null,
              Double.isFinite(meanTailMass) ? meanTailMass : null));
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }

  /** What {@link #save} wrote into {@code dir}; empty when it is absent. */
  public static Optional<HeldOutError> read(Path dir) {
    Path file = dir.resolve(FILE);
    if (!Files.isRegularFile(file)) {
      return Optional.empty();
    }
    Stored s;
    try {
      s = JSON.readValue(file.toFile(), Stored.class);
    } catch (RuntimeException e) {
      throw new TeacherCacheException(file + ": unreadable: " + e.getMessage(), e);
    }
    return Optional.of(
        new HeldOutError(
            s.positions(),
            s.meanKl() == null ? Double.NaN : s.meanKl(),
            s.meanTailMass() == null ? Double.NaN : s.meanTailMass()));
  }

  /**
   * @param held held-out sequences (for example the validation split, or a prefix of it)
   * @param scratch an empty or absent directory, deleted afterwards
   */
  public static HeldOutError measure(
      CausalLm teacher,
      List<Sequence> held,
      int padId,
      CacheKey key,
      TeacherPass.Settings settings,
      NDManager manager,
      Path scratch) {
    if (held.isEmpty()) {
      return new HeldOutError(0, Double.NaN, Double.NaN);
    }
    TeacherPass.Settings one =
        new TeacherPass.Settings(
            settings.topK(),
            settings.massBound(),
            1,
            settings.encoding(),
            settings.batchSize(),
            settings.chunk());
    try {
      TeacherPass pass = new TeacherPass(teacher, held, padId, key, one, manager);
      pass.writeShard(scratch, 0, () -> false, n -> {});
      pass.seal(scratch);
      int vc = key.vocab();
      int vm = teacher.vocabSize();
      double kl = 0;
      double tail = 0;
      long n = 0;
      try (TeacherCache cache = TeacherCache.open(scratch)) {
        for (int s = 0; s < held.size(); s++) {
          Batch b = Batch.of(List.of(held.get(s)), 0, padId);
          float[] z;
          try (NDManager step = manager.newSubManager();
              NoGrad ignored = NoGrad.enter()) {
            Shape bt = new Shape(1, b.seqLen());
            NDArray ids = step.create(b.inputIds(), bt);
            NDArray attention = step.create(b.attentionMask(), bt);
            z = teacher.forward(ids, attention).toFloatArray(); // (1, T, V_m)
          }
          TeacherTargets e = cache.targets(s);
          int k = e.k();
          int pos = 0;
          for (int i = 0; i < b.lossMask().length; i++) {
            if (b.lossMask()[i] == 0f) {
              continue;
            }
            double max = Double.NEGATIVE_INFINITY;
            for (int v = 0; v < vc; v++) {
              max = Math.max(max, z[i * vm + v]);
            }
            double sum = 0;
            for (int v = 0; v < vc; v++) {
              sum += Math.exp(z[i * vm + v] - max);
            }
            double[] rec = new double[vc];
            double stored = 0;
            for (int j = 0; j < e.counts()[pos]; j++) {
              double p = Math.exp(e.logProbs()[pos * k + j]);
              rec[e.ids()[pos * k + j]] = p;
              stored += p;
            }
            double pt = Math.exp(e.logTail()[pos]);
            int rest = vc - e.counts()[pos];
            double norm = stored + pt;
            double klPos = 0;
            for (int v = 0; v < vc; v++) {
              double q = rec[v] != 0 ? rec[v] : (rest > 0 ? pt / rest : 0);
              double p = Math.exp(z[i * vm + v] - max) / sum;
              if (p > 0) {
                klPos += p * Math.log(p / (q / norm));
              }
            }
            kl += klPos;
            tail += pt;
            n++;
            pos++;
          }
        }
      }
      return new HeldOutError(n, n == 0 ? Double.NaN : kl / n, n == 0 ? Double.NaN : tail / n);
    } finally {
      delete(scratch);
    }
  }

  private static void delete(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete the scratch cache " + dir, e);
    }
  }
}
