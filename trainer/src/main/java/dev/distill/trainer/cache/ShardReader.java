package dev.distill.trainer.cache;

import dev.distill.trainer.loss.TeacherTargets;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * One shard, memory-mapped and verified when opened: its length, both magics, its SHA-256 and that
 * its records end exactly at the trailer. Afterwards {@link #targets} reads a sequence's entries
 * straight from the mapping (the operating system pages them in and out: a cache larger than memory
 * streams). Every failure names the file.
 */
final class ShardReader implements AutoCloseable {

  private final Path file;
  private final ShardFormat format;
  private final MappedByteBuffer map;
  private final int[] offsets; // (sequences) byte offset of each sequence's record
  private final long positions;
  private final String sha256;

  private ShardReader(
      Path file,
      ShardFormat format,
      MappedByteBuffer map,
      int[] offsets,
      long positions,
      String sha256) {
    this.file = file;
    this.format = format;
    this.map = map;
    this.offsets = offsets;
    this.positions = positions;
    this.sha256 = sha256;
  }

  /**
   * @param expectedKey the cache key's SHA-256 the shard must carry, or null to accept any
   * @throws TeacherCacheException naming the file when it is missing, truncated, corrupt or of
   *     another key
   */
  static ShardReader open(Path file, byte[] expectedKey) {
    long size;
    try {
      size = Files.size(file);
    } catch (IOException e) {
      throw new TeacherCacheException(
          "teacher cache shard " + file + " is missing or unreadable", e);
    }
    if (size < ShardFormat.HEADER_BYTES + ShardFormat.TRAILER_BYTES) {
      throw bad(file, "truncated: " + size + " bytes, shorter than its header and trailer");
    }
    if (size > Integer.MAX_VALUE) {
      throw bad(file, "larger than 2 GiB; write the cache with more shards");
    }
    MappedByteBuffer map;
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      map = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
    } catch (IOException e) {
      throw new TeacherCacheException("cannot read teacher cache shard " + file, e);
    }
    map.order(ByteOrder.LITTLE_ENDIAN);
    int n = (int) size;
    String[] problem = new String[1];
    ShardFormat format = ShardFormat.parse(map.duplicate().order(ByteOrder.LITTLE_ENDIAN), problem);
    if (format == null) {
      throw bad(file, problem[0]);
    }
    byte[] end = new byte[4];
    map.get(n - 4, end);
    if (!Arrays.equals(end, ShardFormat.END)) {
      throw bad(file, "truncated: no DTKE trailer at its end");
    }
    byte[] stored = new byte[32];
    map.get(n - 36, stored);
    MessageDigest md;
    try {
      md = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    md.update(map.duplicate().position(0).limit(n - 36));
    byte[] actual = md.digest();
    if (!Arrays.equals(actual, stored)) {
      throw bad(file, "corrupt: its SHA-256 does not match the one in its trailer");
    }
    if (expectedKey != null && !Arrays.equals(format.key(), expectedKey)) {
      throw bad(
          file,
          "written for another cache key ("
              + HexFormat.of().formatHex(format.key())
              + ", expected "
              + HexFormat.of().formatHex(expectedKey)
              + ")");
    }
    int[] offsets = new int[format.sequences()];
    int at = ShardFormat.HEADER_BYTES;
    int recordsEnd = n - ShardFormat.TRAILER_BYTES;
    long positions = 0;
    for (int s = 0; s < offsets.length; s++) {
      offsets[s] = at;
      if (at + 4 > recordsEnd) {
        throw bad(file, "its records end before sequence " + (format.first() + s));
      }
      int count = map.getInt(at);
      at += 4;
      for (int p = 0; p < count; p++) {
        if (at + 2 > recordsEnd) {
          throw bad(file, "its records end inside sequence " + (format.first() + s));
        }
        int c = Short.toUnsignedInt(map.getShort(at));
        if (c < 1 || c > format.k()) {
          throw bad(
              file, "a position of sequence " + (format.first() + s) + " holds " + c + " entries");
        }
        at += format.positionBytes(c);
      }
      positions += count;
    }
    if (at != recordsEnd) {
      throw bad(file, "its records end at byte " + at + ", the trailer starts at " + recordsEnd);
    }
    if (map.getLong(recordsEnd) != positions) {
      throw bad(
          file,
          "the trailer counts " + map.getLong(recordsEnd) + " positions, the records " + positions);
    }
    return new ShardReader(file, format, map, offsets, positions, HexFormat.of().formatHex(actual));
  }

  private static TeacherCacheException bad(Path file, String why) {
    return new TeacherCacheException("teacher cache shard " + file + ": " + why);
  }

  ShardFormat format() {
    return format;
  }

  Path file() {
    return file;
  }

  long positions() {
    return positions;
  }

  /** SHA-256 of the shard's bytes before the digest (the digest in its trailer), hex. */
  String sha256() {
    return sha256;
  }

  /** Whether this shard holds sequence {@code s} (an index in the training split). */
  boolean holds(int s) {
    return s >= format.first() && s < format.first() + format.sequences();
  }

  /** The stored entries of sequence {@code s}'s loss positions, in order. */
  TeacherTargets targets(int s) {
    if (!holds(s)) {
      throw new IllegalArgumentException("shard " + file + " does not hold sequence " + s);
    }
    ByteBuffer b = map.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    b.position(offsets[s - format.first()]);
    int n = b.getInt();
    int k = format.k();
    int[] counts = new int[n];
    int[] ids = new int[n * k];
    float[] logProbs = new float[n * k];
    float[] logTail = new float[n];
    for (int i = 0; i < n; i++) {
      int c = Short.toUnsignedInt(b.getShort());
      counts[i] = c;
      logTail[i] = b.getFloat();
      for (int j = 0; j < c; j++) {
        ids[i * k + j] = format.idBytes() == 2 ? Short.toUnsignedInt(b.getShort()) : b.getInt();
      }
      for (int j = 0; j < c; j++) {
        logProbs[i * k + j] =
            format.encoding() == LogProbEncoding.Q16
                ? LogProbEncoding.dequantize(Short.toUnsignedInt(b.getShort()))
                : b.getFloat();
      }
    }
    return new TeacherTargets(format.vocab(), n, k, counts, ids, logProbs, logTail);
  }

  @Override
  public void close() {
    // a MappedByteBuffer is unmapped when collected
  }
}
