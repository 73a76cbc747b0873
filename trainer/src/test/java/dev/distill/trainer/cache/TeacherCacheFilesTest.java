package dev.distill.trainer.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.distill.trainer.loss.TeacherTargets;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Shards and the manifest on disk: round trip, reuse of done shards, and every damage named. */
class TeacherCacheFilesTest {

  @TempDir Path dir;

  private static final int V = 300; // > 256: ids do not fit a byte
  private static final int K = 5;

  private static CacheKey key(String teacher) {
    return new CacheKey(teacher, "byte", V, "gemma", "d", Map.of("seed", 1), K, null, "q16");
  }

  /** Random but valid entries for {@code n} positions. */
  private static TeacherTargets entries(Random r, int n) {
    int[] counts = new int[n];
    int[] ids = new int[n * K];
    float[] lp = new float[n * K];
    float[] tail = new float[n];
    for (int i = 0; i < n; i++) {
      counts[i] = 1 + r.nextInt(K);
      for (int j = 0; j < counts[i]; j++) {
        ids[i * K + j] = r.nextInt(V);
        lp[i * K + j] = (float) (-40 * r.nextDouble());
      }
      tail[i] = (float) (-5 * r.nextDouble());
    }
    return new TeacherTargets(V, n, K, counts, ids, lp, tail);
  }

  private static final int[] LENGTHS = {3, 0, 7, 2, 5};

  /** Writes LENGTHS as two shards (sequences 0-1 and 2-4) and seals; returns what was written. */
  private TeacherTargets[] writeTwoShards(CacheKey key, LogProbEncoding enc) {
    Random r = new Random(1);
    TeacherTargets[] written = new TeacherTargets[LENGTHS.length];
    int[][] ranges = {{0, 2}, {2, 5}};
    for (int s = 0; s < 2; s++) {
      ShardFormat f =
          new ShardFormat(
              ShardFormat.VERSION,
              enc,
              ShardFormat.idBytesFor(V),
              K,
              V,
              s,
              2,
              ranges[s][0],
              ranges[s][1] - ranges[s][0],
              key.digest());
      try (ShardWriter w = new ShardWriter(dir.resolve(TeacherCache.shardName(s, 2)), f)) {
        for (int q = ranges[s][0]; q < ranges[s][1]; q++) {
          written[q] = entries(r, LENGTHS[q]);
          w.append(written[q]);
        }
        w.finish();
      }
    }
    TeacherCache.seal(dir, key, 2, LENGTHS.length);
    return written;
  }

  @Test
  void whatIsWrittenIsReadBackWithinTheEncodingsError() {
    TeacherTargets[] written = writeTwoShards(key("a"), LogProbEncoding.Q16);
    try (TeacherCache cache = TeacherCache.open(dir)) {
      assertThat(cache.manifest().positions()).isEqualTo(17);
      assertThat(cache.manifest().shards()).hasSize(2);
      for (int s = 0; s < LENGTHS.length; s++) {
        TeacherTargets a = cache.targets(s);
        TeacherTargets e = written[s];
        assertThat(a.counts()).isEqualTo(e.counts());
        assertThat(a.logTail()).isEqualTo(e.logTail());
        for (int i = 0; i < e.positions(); i++) {
          for (int j = 0; j < e.counts()[i]; j++) {
            assertThat(a.ids()[i * K + j]).isEqualTo(e.ids()[i * K + j]);
            float lp = e.logProbs()[i * K + j];
            // below the q16 floor (about -32 nats) the floor is stored
            float expected = (float) Math.max(lp, LogProbEncoding.Q16_FLOOR);
            assertThat(a.logProbs()[i * K + j])
                .isCloseTo(expected, within((float) LogProbEncoding.Q16.maxError() + 1e-6f));
          }
        }
      }
      // a batch's rows one after the other
      assertThat(cache.targets(new int[] {4, 0}).positions()).isEqualTo(5 + 3);
    }
  }

  @Test
  void aTruncatedShardFailsNamingTheFile() throws Exception {
    writeTwoShards(key("a"), LogProbEncoding.F32);
    Path shard = dir.resolve(TeacherCache.shardName(1, 2));
    try (RandomAccessFile f = new RandomAccessFile(shard.toFile(), "rw")) {
      f.setLength(f.length() - 10);
    }
    assertThatThrownBy(() -> TeacherCache.open(dir))
        .isInstanceOf(TeacherCacheException.class)
        .hasMessageContaining(shard.toString())
        .hasMessageContaining("truncated");
    try (RandomAccessFile f = new RandomAccessFile(shard.toFile(), "rw")) {
      f.setLength(20);
    }
    assertThatThrownBy(() -> TeacherCache.open(dir))
        .hasMessageContaining(shard.toString())
        .hasMessageContaining("truncated");
  }

  @Test
  void aCorruptShardFailsNamingTheFile() throws Exception {
    writeTwoShards(key("a"), LogProbEncoding.F32);
    Path shard = dir.resolve(TeacherCache.shardName(0, 2));
    byte[] bytes = Files.readAllBytes(shard);
    bytes[ShardFormat.HEADER_BYTES + 9] ^= 0x40; // inside a record
    Files.write(shard, bytes);
    assertThatThrownBy(() -> TeacherCache.open(dir))
        .isInstanceOf(TeacherCacheException.class)
        .hasMessageContaining(shard.toString())
        .hasMessageContaining("corrupt");
  }

  @Test
  void aMissingShardOrAnotherKeysShardFailsNamingTheFile() throws Exception {
    writeTwoShards(key("a"), LogProbEncoding.F32);
    Path shard = dir.resolve(TeacherCache.shardName(1, 2));
    Path aside = dir.resolve("aside");
    Files.move(shard, aside);
    assertThatThrownBy(() -> TeacherCache.open(dir))
        .hasMessageContaining(shard.toString())
        .hasMessageContaining("missing");
    Files.move(aside, shard);
    // the manifest rewritten for another teacher: the shards carry the old key
    assertThatThrownBy(() -> TeacherCache.seal(dir, key("b"), 2, LENGTHS.length))
        .hasMessageContaining(TeacherCache.shardName(0, 2))
        .hasMessageContaining("another cache key");
  }

  @Test
  void anUnfinishedShardLeavesNoShardFile() {
    ShardFormat f =
        new ShardFormat(
            ShardFormat.VERSION, LogProbEncoding.F32, 2, K, V, 0, 1, 0, 2, key("a").digest());
    Path file = dir.resolve(TeacherCache.shardName(0, 1));
    try (ShardWriter w = new ShardWriter(file, f)) {
      w.append(entries(new Random(2), 3));
      // killed or stopped here: no finish()
    }
    assertThat(file).doesNotExist();
    assertThat(dir.toFile().list()).as("no .tmp left either").isEmpty();
  }
}
