package dev.distill.trainer.safetensors;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.json.JsonMapper;

/**
 * A safetensors file open for reading: the header is parsed and checked on {@link #open}; tensors
 * are read one at a time through memory maps of at most {@link #CHUNK_BYTES}, so files and tensors
 * over 2 GiB work. Floating tensors (F32, F16, BF16) come back as fp32 arrays: the conversion
 * happens in Java, so no bf16 tensor ever reaches DJL (it aborts the JVM). Tensors are copied into
 * libtorch's memory, so loading holds no JVM direct memory beyond one chunk. Not thread-safe.
 */
public final class SafetensorsFile implements AutoCloseable {

  /** The most bytes mapped or converted at once. */
  static final long CHUNK_BYTES = 256L << 20;

  /** The largest header accepted (the reference implementation allows 100 MB). */
  static final long MAX_HEADER_BYTES = 100L << 20;

  private static final JsonMapper JSON = JsonMapper.builder().build();

  private static final boolean NATIVE_LE = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;

  private final Path path;
  private final FileChannel channel;
  private final long dataStart;
  private final Map<String, TensorInfo> tensors;
  private final Map<String, String> metadata;
  private long chunkBytes = CHUNK_BYTES;
  private ByteBuffer staging; // reused for every chunk of every tensor: at most chunkBytes

  private SafetensorsFile(
      Path path,
      FileChannel channel,
      long dataStart,
      Map<String, TensorInfo> tensors,
      Map<String, String> meta) {
    this.path = path;
    this.channel = channel;
    this.dataStart = dataStart;
    this.tensors = tensors;
    this.metadata = meta;
  }

  /**
   * Opens a file and checks its header: length, JSON, dtypes, shapes against byte ranges, ranges
   * inside the file. Every error names the file (and the tensor when one is at fault).
   */
  /** As {@link #open(Path)} with a smaller chunk size, so that tests cover the chunked path. */
  static SafetensorsFile open(Path path, long chunkBytes) {
    SafetensorsFile f = open(path);
    f.chunkBytes = chunkBytes;
    return f;
  }

  public static SafetensorsFile open(Path path) {
    FileChannel ch;
    try {
      ch = FileChannel.open(path, StandardOpenOption.READ);
    } catch (IOException e) {
      throw new UncheckedIOException(path + ": cannot open: " + e, e);
    }
    try {
      long size = ch.size();
      if (size < 8) {
        throw corrupt(path, "file of " + size + " bytes is too short for a header length");
      }
      ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, lenBuf, 0);
      long headerLen = lenBuf.getLong(0);
      if (headerLen <= 0 || headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) {
        throw corrupt(path, "bad header length " + headerLen + " for a file of " + size + " bytes");
      }
      ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
      readFully(ch, hb, 8);
      String headerText = new String(hb.array(), StandardCharsets.UTF_8);
      Map<String, Object> header;
      try {
        header = JSON.readValue(headerText, Map.class);
      } catch (JacksonException e) {
        throw corrupt(path, "header is not valid JSON: " + e.getOriginalMessage());
      }
      long dataStart = 8 + headerLen;
      long dataSize = size - dataStart;
      Map<String, TensorInfo> tensors = new LinkedHashMap<>();
      Map<String, String> meta = new LinkedHashMap<>();
      for (var e : header.entrySet()) {
        if (e.getKey().equals("__metadata__")) {
          if (e.getValue() instanceof Map<?, ?> m) {
            m.forEach((k, v) -> meta.put(String.valueOf(k), String.valueOf(v)));
          }
          continue;
        }
        tensors.put(e.getKey(), parseEntry(path, e.getKey(), e.getValue(), dataSize));
      }
      return new SafetensorsFile(path, ch, dataStart, Collections.unmodifiableMap(tensors), meta);
    } catch (IOException e) {
      closeQuietly(ch);
      throw new UncheckedIOException(path + ": cannot read: " + e, e);
    } catch (RuntimeException e) {
      closeQuietly(ch);
      throw e;
    }
  }

  private static TensorInfo parseEntry(Path path, String name, Object value, long dataSize) {
    if (!(value instanceof Map<?, ?> m)) {
      throw corrupt(path, "tensor '" + name + "': header entry is not an object");
    }
    SafetensorsDtype dtype;
    try {
      dtype = SafetensorsDtype.parse(String.valueOf(m.get("dtype")));
    } catch (IllegalArgumentException ex) {
      throw new IllegalArgumentException(path + ": tensor '" + name + "': " + ex.getMessage(), ex);
    }
    if (!(m.get("shape") instanceof List<?> shapeList)
        || !(m.get("data_offsets") instanceof List<?> offs)
        || offs.size() != 2) {
      throw corrupt(path, "tensor '" + name + "': needs 'shape' and two 'data_offsets'");
    }
    long[] dims = new long[shapeList.size()];
    for (int i = 0; i < dims.length; i++) {
      if (!(shapeList.get(i) instanceof Number n) || n.longValue() < 0) {
        throw corrupt(path, "tensor '" + name + "': bad shape " + shapeList);
      }
      dims[i] = n.longValue();
    }
    if (!(offs.get(0) instanceof Number b) || !(offs.get(1) instanceof Number en)) {
      throw corrupt(path, "tensor '" + name + "': bad data_offsets " + offs);
    }
    long begin = b.longValue();
    long end = en.longValue();
    Shape shape = new Shape(dims);
    if (begin < 0 || end < begin || end > dataSize) {
      throw corrupt(
          path,
          "tensor '"
              + name
              + "': data_offsets ["
              + begin
              + ", "
              + end
              + "] out of range (data section of "
              + dataSize
              + " bytes)");
    }
    if (end - begin != shape.size() * dtype.bytes()) {
      throw corrupt(
          path,
          "tensor '"
              + name
              + "': "
              + (end - begin)
              + " bytes do not hold shape "
              + shape
              + " of "
              + dtype);
    }
    return new TensorInfo(name, dtype, shape, begin, end);
  }

  private static IllegalArgumentException corrupt(Path path, String what) {
    return new IllegalArgumentException(path + ": corrupt safetensors header: " + what);
  }

  private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
    while (buf.hasRemaining()) {
      int n = ch.read(buf, pos + buf.position());
      if (n < 0) {
        throw new IOException("unexpected end of file");
      }
    }
  }

  private static void closeQuietly(FileChannel ch) {
    try {
      ch.close();
    } catch (IOException ignored) {
      // already failing
    }
  }

  /** The file this reads. */
  public Path path() {
    return path;
  }

  /** Tensor entries in header order. */
  public Map<String, TensorInfo> tensors() {
    return tensors;
  }

  /** The {@code __metadata__} strings. */
  public Map<String, String> metadata() {
    return metadata;
  }

  /**
   * Reads one tensor; floating dtypes come back as fp32, I64 as int64 and I32 as int32.
   *
   * @throws IllegalArgumentException naming the file and the tensor when it is missing
   */
  public NDArray read(String name, NDManager manager) {
    return read(name, manager, false);
  }

  /**
   * Reads one tensor keeping a 2-byte floating dtype as it is stored, for a frozen model: BF16 as
   * its bits in int8 pairs, shape {@code (..., 2 n)} (DJL aborts on bf16 and int16 tensors; the
   * {@code FusedOps} frozen methods reinterpret the bits), F16 as a float16 array. Other dtypes
   * come back as {@link #read(String, NDManager)} gives them. The bytes are copied as they are,
   * chunk by chunk: no fp32 copy is ever made.
   *
   * @throws IllegalArgumentException naming the file and tensor, with expected and actual shapes
   */
  public NDArray readStored(String name, Shape expected, NDManager manager) {
    checkShape(name, expected);
    if (!NATIVE_LE) {
      throw new UnsupportedOperationException("2-byte weights are kept only on little-endian CPUs");
    }
    return read(name, manager, true);
  }

  /** The shape of a 2-byte tensor as {@link #readStored} holds it. */
  public static Shape storedShape(SafetensorsDtype dtype, Shape shape) {
    if (dtype != SafetensorsDtype.BF16 || shape.dimension() == 0) {
      return shape;
    }
    long[] dims = shape.getShape().clone();
    dims[dims.length - 1] *= 2; // int8 pairs
    return new Shape(dims);
  }

  private NDArray read(String name, NDManager manager, boolean stored) {
    TensorInfo info = tensors.get(name);
    if (info == null) {
      throw new IllegalArgumentException(path + ": missing tensor '" + name + "'");
    }
    Shape shape = stored ? storedShape(info.dtype(), info.shape()) : info.shape();
    // rows of the tensor as stored in the file: a 1-D tensor's bits have twice its length
    long rows = info.shape().dimension() == 0 ? 1 : info.shape().get(0);
    long rowElems = rows == 0 ? 0 : info.shape().size() / Math.max(rows, 1);
    long rowBytes = rowElems * info.dtype().bytes();
    long outRowBytes = stored ? rowBytes : rowElems * info.dtype().loadedAs().getNumOfBytes();
    long maxBytes = Math.max(rowBytes, outRowBytes);
    if (shape.size() == 0 || shape.dimension() == 0 || maxBytes * rows <= chunkBytes) {
      return readRows(info, 0, rows, manager, stored).reshape(shape);
    }
    if (maxBytes > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException(
          path + ": tensor '" + name + "': a row of " + maxBytes + " bytes is too large");
    }
    long rowsPerChunk = Math.max(1, chunkBytes / maxBytes);
    NDList parts = new NDList();
    try {
      for (long r = 0; r < rows; r += rowsPerChunk) {
        long n = Math.min(rowsPerChunk, rows - r);
        long[] dims = shape.getShape().clone();
        dims[0] = n * (shape.get(0) / rows); // 2 n int8 values for the n of a 1-D bf16 tensor
        parts.add(readRows(info, r, n, manager, stored).reshape(new Shape(dims)));
      }
      return NDArrays.concat(parts, 0);
    } finally {
      parts.close();
    }
  }

  /** Reads rows [first, first + n) of a tensor (all of it when it has no rows) as a flat array. */
  private NDArray readRows(TensorInfo info, long first, long n, NDManager manager, boolean stored) {
    Shape shape = info.shape();
    long rows = shape.dimension() == 0 ? 1 : shape.get(0);
    long elems = rows == 0 ? 0 : shape.size() / rows * n;
    long srcBytes = elems * info.dtype().bytes();
    long start =
        dataStart
            + info.begin()
            + (rows == 0 ? 0 : first * (shape.size() / rows) * info.dtype().bytes());
    DataType outType = info.dtype().loadedAs();
    long outElems = elems;
    boolean raw = stored; // readStored refuses big-endian machines, so the bytes copy as they are
    if (raw && info.dtype() == SafetensorsDtype.BF16) {
      outType = DataType.INT8; // the bits, two bytes per element
      outElems = 2 * elems;
    } else if (raw && info.dtype() == SafetensorsDtype.F16) {
      outType = DataType.FLOAT16;
    } else {
      raw = false;
    }
    ByteBuffer out = staging((int) (outElems * outType.getNumOfBytes())); // reused direct buffer
    if (elems > 0) {
      ByteBuffer src;
      try {
        MappedByteBuffer mapped = channel.map(FileChannel.MapMode.READ_ONLY, start, srcBytes);
        src = mapped.order(ByteOrder.LITTLE_ENDIAN);
      } catch (IOException e) {
        throw new UncheckedIOException(
            path + ": tensor '" + info.name() + "': cannot map: " + e, e);
      }
      if (raw) {
        out.put(src); // little-endian 2-byte elements, as libtorch lays them out
      } else
        switch (info.dtype()) {
          case F32 -> {
            if (NATIVE_LE) {
              out.put(src);
            } else {
              for (long i = 0; i < elems; i++) {
                out.putFloat(src.getFloat());
              }
            }
          }
          case BF16 -> {
            for (long i = 0; i < elems; i++) {
              out.putFloat(SafetensorsDtype.bf16ToFloat(src.getShort()));
            }
          }
          case F16 -> {
            for (long i = 0; i < elems; i++) {
              out.putFloat(SafetensorsDtype.f16ToFloat(src.getShort()));
            }
          }
          case I64 -> {
            for (long i = 0; i < elems; i++) {
              out.putLong(src.getLong());
            }
          }
          case I32 -> {
            for (long i = 0; i < elems; i++) {
              out.putInt(src.getInt());
            }
          }
        }
      out.rewind();
    }
    // On CPU, DJL wraps a direct buffer without copying (the tensor would live in JVM direct
    // memory,
    // limited by -XX:MaxDirectMemorySize): clone it into libtorch's memory and reuse the buffer.
    try (NDArray view = manager.create(out, new Shape(outElems), outType)) {
      NDArray copy = view.duplicate();
      NDScope.unregister(view);
      return copy;
    }
  }

  /**
   * A direct, native-order buffer of exactly n bytes at position 0, backed by one reused
   * allocation.
   */
  private ByteBuffer staging(int n) {
    if (staging == null || staging.capacity() < n) {
      staging = ByteBuffer.allocateDirect(Math.max(n, 64));
    }
    return staging.duplicate().clear().limit(n).slice().order(ByteOrder.nativeOrder());
  }

  /**
   * Reads a tensor and checks its shape.
   *
   * @throws IllegalArgumentException naming the file and tensor, with expected and actual shapes
   */
  public NDArray read(String name, Shape expected, NDManager manager) {
    checkShape(name, expected);
    return read(name, manager);
  }

  private void checkShape(String name, Shape expected) {
    TensorInfo info = tensors.get(name);
    if (info != null && !info.shape().equals(expected)) {
      throw new IllegalArgumentException(
          path + ": tensor '" + name + "' has shape " + info.shape() + ", expected " + expected);
    }
  }

  @Override
  public void close() {
    try {
      channel.close();
    } catch (IOException e) {
      throw new UncheckedIOException(path + ": cannot close: " + e, e);
    }
  }

  /** The names of all tensors, in header order. */
  public List<String> names() {
    return new ArrayList<>(tensors.keySet());
  }
}
