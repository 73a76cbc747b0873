package dev.distill.trainer.cache;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The byte layout of one shard file (little-endian; {@code docs/teacher-cache.md}):
 *
 * <pre>
 * header, 64 bytes:  "DTKC" | u16 version | u8 encoding | u8 id bytes (2 or 4) | u32 k | u32 vocab
 *                    | u32 shard | u32 shards | u32 first sequence | u32 sequences | 32 B key SHA-256
 * per sequence:      u32 positions n, then per position:
 *                    u16 count c | f32 log tail mass | c ids | c log-probabilities (encoding)
 * trailer, 44 bytes: u64 positions in the shard | 32 B SHA-256 of every byte before the digest | "DTKE"
 * </pre>
 *
 * @param version {@link #VERSION}
 * @param encoding how log-probabilities are stored
 * @param idBytes 2 when the vocabulary fits 16 bits, else 4
 * @param k the most entries a position holds
 * @param vocab the ids are in [0, vocab)
 * @param shard this shard's number, from 0
 * @param shards how many shards the cache has
 * @param first the first sequence (index in the training split) of this shard
 * @param sequences how many consecutive sequences it holds
 * @param key the SHA-256 of the cache key, 32 bytes
 */
record ShardFormat(
    int version,
    LogProbEncoding encoding,
    int idBytes,
    int k,
    int vocab,
    int shard,
    int shards,
    int first,
    int sequences,
    byte[] key) {

  static final int VERSION = 1;
  static final int HEADER_BYTES = 64;
  static final int TRAILER_BYTES = 44;
  static final byte[] MAGIC = "DTKC".getBytes(StandardCharsets.US_ASCII);
  static final byte[] END = "DTKE".getBytes(StandardCharsets.US_ASCII);

  ShardFormat {
    if (key.length != 32) {
      throw new IllegalArgumentException("key must be 32 bytes, was " + key.length);
    }
  }

  static int idBytesFor(int vocab) {
    return vocab <= 65536 ? 2 : 4;
  }

  /** Bytes of one position holding {@code count} entries. */
  int positionBytes(int count) {
    return 2 + 4 + count * (idBytes + encoding.bytes);
  }

  byte[] header() {
    ByteBuffer b = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    b.put(MAGIC);
    b.putShort((short) version);
    b.put((byte) encoding.code);
    b.put((byte) idBytes);
    b.putInt(k).putInt(vocab).putInt(shard).putInt(shards).putInt(first).putInt(sequences);
    b.put(key);
    return b.array();
  }

  /**
   * @return the header, or null with {@code problem[0]} saying why it cannot be read
   */
  static ShardFormat parse(ByteBuffer b, String[] problem) {
    byte[] magic = new byte[4];
    b.get(magic);
    if (!java.util.Arrays.equals(magic, MAGIC)) {
      problem[0] = "not a teacher-cache shard (no DTKC header)";
      return null;
    }
    int version = Short.toUnsignedInt(b.getShort());
    if (version != VERSION) {
      problem[0] = "shard format version " + version + ", this reader knows " + VERSION;
      return null;
    }
    LogProbEncoding enc = LogProbEncoding.ofCode(Byte.toUnsignedInt(b.get()));
    int idBytes = Byte.toUnsignedInt(b.get());
    if (enc == null || (idBytes != 2 && idBytes != 4)) {
      problem[0] = "unknown encoding or id width in the header";
      return null;
    }
    int k = b.getInt();
    int vocab = b.getInt();
    int shard = b.getInt();
    int shards = b.getInt();
    int first = b.getInt();
    int sequences = b.getInt();
    byte[] key = new byte[32];
    b.get(key);
    if (k < 1
        || vocab < 1
        || shards < 1
        || shard < 0
        || shard >= shards
        || first < 0
        || sequences < 0) {
      problem[0] = "header values out of range";
      return null;
    }
    return new ShardFormat(version, enc, idBytes, k, vocab, shard, shards, first, sequences, key);
  }
}
