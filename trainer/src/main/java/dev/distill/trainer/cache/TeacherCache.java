package dev.distill.trainer.cache;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.distill.trainer.loss.TeacherTargets;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * A complete teacher cache opened for reading: the manifest {@value #MANIFEST} and every shard it
 * lists, each verified ({@link ShardReader}) and checked against the manifest's key and SHA-256.
 * {@link #targets} reads the entries of training sequences by their index in the split.
 */
public final class TeacherCache implements AutoCloseable {

  /** The manifest's file name in a cache directory. */
  public static final String MANIFEST = "teacher-cache.json";

  static final String FORMAT = "distill-teacher-cache";

  private static final ObjectMapper JSON = JsonMapper.builder().build();

  /**
   * One shard in the manifest.
   *
   * @param file its file name in the cache directory
   * @param first its first sequence
   * @param sequences consecutive sequences it holds
   * @param positions loss positions it holds
   * @param bytes its size
   * @param sha256 the digest in its trailer, hex
   */
  public record ShardEntry(
      @JsonProperty("file") String file,
      @JsonProperty("first") int first,
      @JsonProperty("sequences") int sequences,
      @JsonProperty("positions") long positions,
      @JsonProperty("bytes") long bytes,
      @JsonProperty("sha256") String sha256) {}

  /**
   * The manifest.
   *
   * @param format {@value #FORMAT}
   * @param version the shard format version
   * @param key what the cache was written from
   * @param keySha256 {@link CacheKey#hex()}
   * @param sequences training sequences covered (all of the split)
   * @param positions loss positions stored
   * @param bytes all shards' sizes
   * @param shards the shards in sequence order
   */
  public record Manifest(
      @JsonProperty("format") String format,
      @JsonProperty("version") int version,
      @JsonProperty("key") CacheKey key,
      @JsonProperty("key_sha256") String keySha256,
      @JsonProperty("sequences") int sequences,
      @JsonProperty("positions") long positions,
      @JsonProperty("bytes") long bytes,
      @JsonProperty("shards") List<ShardEntry> shards) {

    /** Stored bytes per loss position (a token the student is trained on). */
    public double bytesPerPosition() {
      return positions == 0 ? 0 : (double) bytes / positions;
    }
  }

  private final Path dir;
  private final Manifest manifest;
  private final List<ShardReader> shards;

  private TeacherCache(Path dir, Manifest manifest, List<ShardReader> shards) {
    this.dir = dir;
    this.manifest = manifest;
    this.shards = shards;
  }

  /** The file of shard {@code s} of {@code n}. */
  public static String shardName(int s, int n) {
    return String.format("shard-%05d-of-%05d.dtc", s, n);
  }

  /** Whether the directory holds a manifest (a sealed cache; it may still fail to open). */
  public static boolean isSealed(Path dir) {
    return Files.isRegularFile(dir.resolve(MANIFEST));
  }

  /**
   * Opens a sealed cache.
   *
   * @throws TeacherCacheException naming the file that is missing, truncated, corrupt or of another
   *     key
   */
  public static TeacherCache open(Path dir) {
    Path mf = dir.resolve(MANIFEST);
    Manifest m;
    try {
      m = JSON.readValue(mf.toFile(), Manifest.class);
    } catch (RuntimeException e) {
      throw new TeacherCacheException(
          "teacher cache manifest " + mf + " is missing or unreadable: " + e.getMessage(), e);
    }
    if (!FORMAT.equals(m.format()) || m.key() == null || m.shards() == null) {
      throw new TeacherCacheException(
          "teacher cache manifest " + mf + " is not a " + FORMAT + " manifest");
    }
    byte[] key = m.key().digest();
    if (!HexFormat.of().formatHex(key).equals(m.keySha256())) {
      throw new TeacherCacheException(
          "teacher cache manifest " + mf + ": key_sha256 does not match its key");
    }
    List<ShardReader> readers = new ArrayList<>();
    int next = 0;
    for (ShardEntry e : m.shards()) {
      Path file = dir.resolve(e.file());
      ShardReader r = ShardReader.open(file, key);
      if (!r.sha256().equals(e.sha256())) {
        throw new TeacherCacheException(
            "teacher cache shard " + file + ": its SHA-256 differs from the manifest's");
      }
      if (r.format().first() != next || r.format().sequences() != e.sequences()) {
        throw new TeacherCacheException(
            "teacher cache shard "
                + file
                + ": holds sequences from "
                + r.format().first()
                + " where the manifest expects "
                + next);
      }
      next += e.sequences();
      readers.add(r);
    }
    if (next != m.sequences()) {
      throw new TeacherCacheException(
          "teacher cache "
              + dir
              + ": its shards cover "
              + next
              + " of "
              + m.sequences()
              + " sequences");
    }
    return new TeacherCache(dir, m, readers);
  }

  /**
   * Writes the manifest once every shard of {@code shards} exists and verifies; atomic, so a
   * manifest is never half-written.
   *
   * @param sequences all training sequences, the shards' union
   * @throws TeacherCacheException naming a shard that is missing or damaged
   */
  static Manifest seal(Path dir, CacheKey key, int shards, int sequences) {
    byte[] digest = key.digest();
    List<ShardEntry> entries = new ArrayList<>();
    long positions = 0;
    long bytes = 0;
    for (int s = 0; s < shards; s++) {
      String name = shardName(s, shards);
      ShardReader r = ShardReader.open(dir.resolve(name), digest);
      long size;
      try {
        size = Files.size(r.file());
      } catch (IOException e) {
        throw new TeacherCacheException("cannot read teacher cache shard " + r.file(), e);
      }
      entries.add(
          new ShardEntry(
              name, r.format().first(), r.format().sequences(), r.positions(), size, r.sha256()));
      positions += r.positions();
      bytes += size;
    }
    Manifest m =
        new Manifest(
            FORMAT, ShardFormat.VERSION, key, key.hex(), sequences, positions, bytes, entries);
    Path tmp = dir.resolve(MANIFEST + ".tmp");
    try {
      JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), m);
      try {
        Files.move(
            tmp,
            dir.resolve(MANIFEST),
            StandardCopyOption.ATOMIC_MOVE,
            StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, dir.resolve(MANIFEST), StandardCopyOption.REPLACE_EXISTING);
      }
    } catch (IOException | RuntimeException e) {
      throw new TeacherCacheException(
          "cannot write " + dir.resolve(MANIFEST) + ": " + e.getMessage(), e);
    }
    return m;
  }

  public Manifest manifest() {
    return manifest;
  }

  public CacheKey key() {
    return manifest.key();
  }

  public Path dir() {
    return dir;
  }

  /** The stored entries of one training sequence's loss positions, in order. */
  public TeacherTargets targets(int sequence) {
    for (ShardReader r : shards) {
      if (r.holds(sequence)) {
        return r.targets(sequence);
      }
    }
    throw new IllegalArgumentException(
        "teacher cache "
            + dir
            + " holds sequences 0.."
            + (manifest.sequences() - 1)
            + ", not "
            + sequence);
  }

  /** The entries of a batch's rows one after the other: the row-major order of the loss. */
  public TeacherTargets targets(int[] sequences) {
    List<TeacherTargets> parts = new ArrayList<>();
    Arrays.stream(sequences).forEach(s -> parts.add(targets(s)));
    return TeacherTargets.concat(parts, manifest.key().vocab(), manifest.key().topK());
  }

  @Override
  public void close() {
    shards.forEach(ShardReader::close);
  }
}
