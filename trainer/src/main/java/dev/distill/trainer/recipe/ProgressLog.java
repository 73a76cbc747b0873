package dev.distill.trainer.recipe;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * What a synthesis or an evaluation has done so far, durable: an append-only JSON Lines file whose
 * first line names the spec ({@code {"spec_hash": ...}}) and every further line is one finished
 * unit of work, written and forced to disk ({@code fsync}) before the run goes on. A later attempt
 * of the same job opens it, drops a torn last line (the process died while writing it), and skips
 * what is done; a log of another spec is set aside ({@code .stale}) and the run starts afresh.
 */
final class ProgressLog implements AutoCloseable {

  private static final ObjectMapper JSON = JsonMapper.builder().build();

  private final FileChannel channel;
  private final List<JsonNode> done;

  private ProgressLog(FileChannel channel, List<JsonNode> done) {
    this.channel = channel;
    this.done = Collections.unmodifiableList(done);
  }

  /**
   * Opens (or starts) the log of a run.
   *
   * @param specHash {@link SpecHash#of} the job's spec
   */
  static ProgressLog open(Path file, String specHash) {
    try {
      Files.createDirectories(file.getParent());
      List<JsonNode> entries = new ArrayList<>();
      long valid = 0;
      boolean matches = false;
      if (Files.exists(file)) {
        byte[] bytes = Files.readAllBytes(file);
        int start = 0;
        boolean header = true;
        for (int i = 0; i < bytes.length; i++) {
          if (bytes[i] != '\n') {
            continue;
          }
          JsonNode node;
          try {
            node = JSON.readTree(new String(bytes, start, i - start, StandardCharsets.UTF_8));
          } catch (RuntimeException e) {
            break; // torn or damaged: everything from here is redone
          }
          if (header) {
            matches = node.has("spec_hash") && specHash.equals(node.get("spec_hash").asString());
            if (!matches) {
              break;
            }
            header = false;
          } else {
            entries.add(node);
          }
          start = i + 1;
          valid = start;
        }
        if (!matches) {
          Files.move(
              file,
              file.resolveSibling(file.getFileName() + ".stale"),
              StandardCopyOption.REPLACE_EXISTING);
          entries.clear();
          valid = 0;
        }
      }
      FileChannel ch =
          FileChannel.open(
              file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.READ);
      ch.truncate(valid);
      ch.position(valid);
      ProgressLog log = new ProgressLog(ch, entries);
      if (valid == 0) {
        log.append(List.of(Map.of("spec_hash", specHash)));
      }
      return log;
    } catch (IOException e) {
      throw new UncheckedIOException("progress log " + file + ": " + e.getMessage(), e);
    }
  }

  /** The entries earlier attempts wrote, in order. */
  List<JsonNode> done() {
    return done;
  }

  /** Appends entries and forces them to disk before returning. */
  synchronized void append(List<? extends Map<String, ?>> entries) {
    if (entries.isEmpty()) {
      return;
    }
    StringBuilder sb = new StringBuilder();
    for (Map<String, ?> e : entries) {
      sb.append(JSON.writeValueAsString(e)).append('\n');
    }
    try {
      ByteBuffer buf = ByteBuffer.wrap(sb.toString().getBytes(StandardCharsets.UTF_8));
      while (buf.hasRemaining()) {
        channel.write(buf);
      }
      channel.force(false);
    } catch (IOException e) {
      throw new UncheckedIOException("progress log: " + e.getMessage(), e);
    }
  }

  @Override
  public synchronized void close() {
    try {
      channel.close();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
