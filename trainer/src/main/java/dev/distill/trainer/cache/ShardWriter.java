package dev.distill.trainer.cache;

import dev.distill.trainer.loss.TeacherTargets;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Writes one shard ({@link ShardFormat}) to {@code <file>.<random>.tmp} and moves it into place
 * only when {@link #finish} has written the trailer, so a shard file that exists is complete; a
 * writer closed without {@link #finish} (a stopped or killed pass) leaves no shard, and at most a
 * {@code .tmp} that the next attempt overwrites.
 */
final class ShardWriter implements AutoCloseable {

  private final Path file;
  private final Path tmp;
  private final ShardFormat format;
  private final OutputStream out;
  private final MessageDigest digest;
  private int sequences;
  private long positions;
  private long bytes;
  private boolean finished;

  ShardWriter(Path file, ShardFormat format) {
    this.file = file;
    // a name of its own: two passes of one key may write the same shard at once
    this.tmp =
        file.resolveSibling(
            file.getFileName()
                + "."
                + Long.toHexString(new java.util.Random().nextLong())
                + ".tmp");
    this.format = format;
    try {
      digest = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    try {
      Files.createDirectories(file.getParent());
      out = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("cannot write shard " + tmp, e);
    }
    write(format.header());
  }

  /**
   * Appends the next sequence: its loss positions in order.
   *
   * @param targets the sequence's positions (any number, 0 included); k and vocab of the shard
   */
  void append(TeacherTargets targets) {
    if (sequences >= format.sequences()) {
      throw new IllegalStateException(
          "shard " + file + " already holds " + sequences + " sequences");
    }
    if (targets.k() != format.k() || targets.vocab() != format.vocab()) {
      throw new IllegalArgumentException(
          "targets of k " + targets.k() + " and vocab " + targets.vocab() + " for shard " + file);
    }
    int size = 4;
    for (int i = 0; i < targets.positions(); i++) {
      size += format.positionBytes(targets.counts()[i]);
    }
    ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    b.putInt(targets.positions());
    int k = targets.k();
    for (int i = 0; i < targets.positions(); i++) {
      int c = targets.counts()[i];
      b.putShort((short) c);
      b.putFloat(targets.logTail()[i]);
      for (int j = 0; j < c; j++) {
        int id = targets.ids()[i * k + j];
        if (format.idBytes() == 2) {
          b.putShort((short) id);
        } else {
          b.putInt(id);
        }
      }
      for (int j = 0; j < c; j++) {
        float lp = targets.logProbs()[i * k + j];
        if (format.encoding() == LogProbEncoding.Q16) {
          b.putShort((short) LogProbEncoding.quantize(lp));
        } else {
          b.putFloat(lp);
        }
      }
    }
    write(b.array());
    sequences++;
    positions += targets.positions();
  }

  /** Writes the trailer, syncs and moves the shard into place; returns its size in bytes. */
  long finish() {
    if (sequences != format.sequences()) {
      throw new IllegalStateException(
          "shard " + file + " got " + sequences + " of " + format.sequences() + " sequences");
    }
    ByteBuffer count = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(positions);
    write(count.array());
    try {
      out.write(digest.digest());
      out.write(ShardFormat.END);
      out.close();
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
        ch.force(true);
      }
      if (Files.isRegularFile(file)) {
        // another pass of the same key finished this shard first: keep its file (a sealed
        // manifest may already name its digest)
        Files.deleteIfExists(tmp);
      } else {
        try {
          Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
          Files.move(tmp, file);
        }
      }
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("cannot finish shard " + file, e);
    }
    finished = true;
    return bytes + 36;
  }

  long positions() {
    return positions;
  }

  private void write(byte[] data) {
    digest.update(data);
    bytes += data.length;
    try {
      out.write(data);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("cannot write shard " + tmp, e);
    }
  }

  @Override
  public void close() {
    if (finished) {
      return;
    }
    try {
      out.close();
      Files.deleteIfExists(tmp);
    } catch (IOException e) {
      // the next attempt overwrites the .tmp
    }
  }
}
