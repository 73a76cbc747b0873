package dev.distill.trainer.safetensors;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.json.JsonMapper;

/**
 * Writes safetensors files: fp32 arrays stored as F32, BF16 or F16 (int64/int32 arrays as I64/I32),
 * tensors in the order given (so the bytes are deterministic), the header padded to 8 bytes. An
 * int8 array is the bits of a bf16 tensor held as byte pairs (shape (..., 2 n), how pure bf16 and
 * frozen models hold bf16 weights): it is stored as BF16 of shape (..., n), its bytes as they are.
 * Large tensors are converted a block of rows at a time. Files are written to a temporary name and
 * moved into place.
 */
public final class SafetensorsWriter {

  private static final JsonMapper JSON = JsonMapper.builder().build();

  private SafetensorsWriter() {}

  /**
   * Writes one file.
   *
   * @param file the target
   * @param tensors name to array, written in this order
   * @param floatDtype how fp32 arrays are stored: F32, BF16 or F16
   * @param metadata the {@code __metadata__} strings (may be empty)
   */
  public static void write(
      Path file,
      Map<String, NDArray> tensors,
      SafetensorsDtype floatDtype,
      Map<String, String> metadata) {
    write(file, tensors, floatDtype, metadata, SafetensorsFile.CHUNK_BYTES);
  }

  /**
   * As the public write, converting at most chunkBytes at once (small in tests, to cover the
   * chunked path).
   */
  static void write(
      Path file,
      Map<String, NDArray> tensors,
      SafetensorsDtype floatDtype,
      Map<String, String> metadata,
      long chunkBytes) {
    if (floatDtype != SafetensorsDtype.F32
        && floatDtype != SafetensorsDtype.BF16
        && floatDtype != SafetensorsDtype.F16) {
      throw new IllegalArgumentException(
          "floating tensors can be stored as F32, BF16 or F16, not " + floatDtype);
    }
    Map<String, Object> header = new LinkedHashMap<>();
    if (!metadata.isEmpty()) {
      header.put("__metadata__", new LinkedHashMap<>(metadata));
    }
    long offset = 0;
    List<SafetensorsDtype> dtypes = new ArrayList<>();
    for (var e : tensors.entrySet()) {
      SafetensorsDtype d = storedAs(e.getKey(), e.getValue(), floatDtype);
      dtypes.add(d);
      long bytes = storedBytes(e.getValue(), d);
      Map<String, Object> entry = new LinkedHashMap<>();
      entry.put("dtype", d.name());
      entry.put("shape", storedShape(e.getValue()).getShape());
      entry.put("data_offsets", List.of(offset, offset + bytes));
      header.put(e.getKey(), entry);
      offset += bytes;
    }
    byte[] json = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
    int padded = (json.length + 7) / 8 * 8;
    ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
    head.putLong(padded);
    head.put(json);
    while (head.hasRemaining()) {
      head.put((byte) ' ');
    }
    head.flip();
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (FileChannel ch =
        FileChannel.open(
            tmp,
            StandardOpenOption.CREATE,
            StandardOpenOption.TRUNCATE_EXISTING,
            StandardOpenOption.WRITE)) {
      writeFully(ch, head);
      int i = 0;
      for (var e : tensors.entrySet()) {
        writeTensor(ch, e.getValue(), dtypes.get(i++), chunkBytes);
      }
      ch.force(true);
    } catch (IOException e) {
      throw new UncheckedIOException(file + ": cannot write: " + e, e);
    }
    try {
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException(file + ": cannot move into place: " + e, e);
    }
  }

  /**
   * Writes a sharded checkpoint into a directory: {@code model-0000k-of-0000n.safetensors} files of
   * at most {@code maxShardBytes} each (a tensor larger than that gets a shard of its own) and
   * {@code model.safetensors.index.json}. With a single shard this writes {@code model.safetensors}
   * and no index.
   *
   * @return the files written, index last
   */
  public static List<Path> writeSharded(
      Path dir, Map<String, NDArray> tensors, SafetensorsDtype floatDtype, long maxShardBytes) {
    List<Map<String, NDArray>> shards = new ArrayList<>();
    Map<String, NDArray> current = new LinkedHashMap<>();
    long currentBytes = 0;
    long total = 0;
    for (var e : tensors.entrySet()) {
      long bytes = storedBytes(e.getValue(), storedAs(e.getKey(), e.getValue(), floatDtype));
      if (!current.isEmpty() && currentBytes + bytes > maxShardBytes) {
        shards.add(current);
        current = new LinkedHashMap<>();
        currentBytes = 0;
      }
      current.put(e.getKey(), e.getValue());
      currentBytes += bytes;
      total += bytes;
    }
    if (!current.isEmpty() || shards.isEmpty()) {
      shards.add(current);
    }
    List<Path> written = new ArrayList<>();
    if (shards.size() == 1) {
      Path f = dir.resolve(SafetensorsCheckpoint.SINGLE_FILE);
      write(f, shards.get(0), floatDtype, Map.of("format", "pt"));
      written.add(f);
      return written;
    }
    Map<String, String> weightMap = new LinkedHashMap<>();
    for (int i = 0; i < shards.size(); i++) {
      String name = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
      Path f = dir.resolve(name);
      write(f, shards.get(i), floatDtype, Map.of("format", "pt"));
      shards.get(i).keySet().forEach(t -> weightMap.put(t, name));
      written.add(f);
    }
    Map<String, Object> index = new LinkedHashMap<>();
    index.put("metadata", Map.of("total_size", total));
    index.put("weight_map", weightMap);
    Path indexFile = dir.resolve(SafetensorsCheckpoint.INDEX_FILE);
    try {
      Files.writeString(
          indexFile, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(index) + "\n");
    } catch (IOException e) {
      throw new UncheckedIOException(indexFile + ": cannot write: " + e, e);
    }
    written.add(indexFile);
    return written;
  }

  private static SafetensorsDtype storedAs(String name, NDArray a, SafetensorsDtype floatDtype) {
    DataType t = a.getDataType();
    if (t == DataType.FLOAT32) {
      return floatDtype;
    }
    if (t == DataType.INT8) {
      return SafetensorsDtype.BF16; // bf16 bits as byte pairs
    }
    if (t == DataType.INT64) {
      return SafetensorsDtype.I64;
    }
    if (t == DataType.INT32) {
      return SafetensorsDtype.I32;
    }
    throw new IllegalArgumentException(
        "tensor '"
            + name
            + "': cannot write data type "
            + t
            + " (convert to fp32, int64 or int32 first)");
  }

  /** The shape in the file: an int8 array of bf16 bits has half the last dimension. */
  private static Shape storedShape(NDArray a) {
    Shape s = a.getShape();
    if (a.getDataType() != DataType.INT8) {
      return s;
    }
    long[] dims = s.getShape().clone();
    dims[dims.length - 1] /= 2;
    return new Shape(dims);
  }

  private static long storedBytes(NDArray a, SafetensorsDtype d) {
    return a.getDataType() == DataType.INT8 ? a.getShape().size() : a.getShape().size() * d.bytes();
  }

  private static void writeTensor(FileChannel ch, NDArray a, SafetensorsDtype d, long chunkBytes)
      throws IOException {
    Shape shape = a.getShape();
    if (shape.size() == 0) {
      return;
    }
    long rows = shape.dimension() == 0 ? 1 : shape.get(0);
    long rowElems = shape.size() / rows;
    long rowBytes = rowElems * Math.max(4, d.bytes());
    long rowsPerChunk = Math.max(1, chunkBytes / rowBytes);
    if (shape.dimension() == 0 || rowsPerChunk >= rows) {
      writeBlock(ch, a, d);
      return;
    }
    for (long r = 0; r < rows; r += rowsPerChunk) {
      try (NDArray block = a.get(new NDIndex("{}:{}", r, Math.min(rows, r + rowsPerChunk)))) {
        writeBlock(ch, block, d);
      }
    }
  }

  private static void writeBlock(FileChannel ch, NDArray a, SafetensorsDtype d) throws IOException {
    ByteBuffer src = a.toByteBuffer().order(ByteOrder.nativeOrder());
    if (a.getDataType() == DataType.INT8) { // bf16 bits, little-endian pairs as held
      writeFully(ch, src);
      return;
    }
    long n = a.getShape().size();
    ByteBuffer out = ByteBuffer.allocate((int) (n * d.bytes())).order(ByteOrder.LITTLE_ENDIAN);
    switch (d) {
      case F32 -> {
        for (long i = 0; i < n; i++) {
          out.putFloat(src.getFloat());
        }
      }
      case BF16 -> {
        for (long i = 0; i < n; i++) {
          out.putShort(SafetensorsDtype.floatToBf16(src.getFloat()));
        }
      }
      case F16 -> {
        for (long i = 0; i < n; i++) {
          out.putShort(SafetensorsDtype.floatToF16(src.getFloat()));
        }
      }
      case I64 -> {
        for (long i = 0; i < n; i++) {
          out.putLong(src.getLong());
        }
      }
      case I32 -> {
        for (long i = 0; i < n; i++) {
          out.putInt(src.getInt());
        }
      }
    }
    out.flip();
    writeFully(ch, out);
  }

  private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
    while (buf.hasRemaining()) {
      ch.write(buf);
    }
  }
}
