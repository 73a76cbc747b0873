package dev.distill.trainer.safetensors;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsRoundTripTest {

  static NDManager manager;

  @BeforeAll
  static void setUp() {
    manager = NDManager.newBaseManager();
  }

  @AfterAll
  static void tearDown() {
    manager.close();
  }

  static float[] randoms(int n, long seed) {
    Random r = new Random(seed);
    float[] f = new float[n];
    for (int i = 0; i < n; i++) {
      f[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(7) - 3));
    }
    return f;
  }

  Map<String, NDArray> tensors(NDManager m) {
    Map<String, NDArray> t = new LinkedHashMap<>();
    t.put("z.first", m.create(randoms(7 * 5, 1), new Shape(7, 5)));
    t.put("a.second", m.create(randoms(3, 2), new Shape(3)));
    t.put("m.cube", m.create(randoms(4 * 3 * 2, 3), new Shape(4, 3, 2)));
    t.put("ids", m.create(new long[] {1, -2, 3_000_000_000L}, new Shape(3)));
    t.put("small", m.create(new int[] {7, -8}, new Shape(2)));
    return t;
  }

  @Test
  void f32RoundTripIsExactAndKeepsTheOrder(@TempDir Path dir) {
    try (NDManager m = manager.newSubManager()) {
      Map<String, NDArray> t = tensors(m);
      Path file = dir.resolve("x.safetensors");
      SafetensorsWriter.write(file, t, SafetensorsDtype.F32, Map.of("format", "pt"));
      try (SafetensorsFile f = SafetensorsFile.open(file)) {
        assertThat(f.names()).containsExactlyElementsOf(t.keySet());
        assertThat(f.metadata()).containsEntry("format", "pt");
        for (var e : t.entrySet()) {
          NDArray back = f.read(e.getKey(), m);
          assertThat(back.getShape()).isEqualTo(e.getValue().getShape());
          assertThat(back.getDataType()).isEqualTo(e.getValue().getDataType());
          assertThat(back.contentEquals(e.getValue())).as(e.getKey()).isTrue();
        }
      }
    }
  }

  @Test
  void arraysReadEarlierSurviveLaterReads(@TempDir Path dir) {
    // the reader reuses one staging buffer: every array must own a copy of its data
    try (NDManager m = manager.newSubManager()) {
      Map<String, NDArray> t = new LinkedHashMap<>();
      t.put("a", m.create(randoms(64, 7), new Shape(8, 8)));
      t.put("b", m.create(randoms(64, 8), new Shape(8, 8)));
      Path file = dir.resolve("x.safetensors");
      SafetensorsWriter.write(file, t, SafetensorsDtype.F32, Map.of());
      try (SafetensorsFile f = SafetensorsFile.open(file)) {
        NDArray a = f.read("a", m);
        NDArray b = f.read("b", m);
        assertThat(a.contentEquals(t.get("a"))).isTrue();
        assertThat(b.contentEquals(t.get("b"))).isTrue();
      }
    }
  }

  @Test
  void writingIsDeterministic(@TempDir Path dir) throws Exception {
    try (NDManager m = manager.newSubManager()) {
      Map<String, NDArray> t = tensors(m);
      SafetensorsWriter.write(dir.resolve("a"), t, SafetensorsDtype.BF16, Map.of());
      SafetensorsWriter.write(dir.resolve("b"), t, SafetensorsDtype.BF16, Map.of());
      assertThat(Files.readAllBytes(dir.resolve("a")))
          .isEqualTo(Files.readAllBytes(dir.resolve("b")));
      long headerLen =
          ByteBuffer.wrap(Files.readAllBytes(dir.resolve("a")))
              .order(ByteOrder.LITTLE_ENDIAN)
              .getLong(0);
      assertThat(headerLen % 8).isZero();
    }
  }

  @Test
  void bf16AndF16RoundTripWithinTheirPrecision(@TempDir Path dir) {
    try (NDManager m = manager.newSubManager()) {
      float[] values = randoms(1000, 4);
      NDArray a = m.create(values, new Shape(10, 100));
      for (SafetensorsDtype d : List.of(SafetensorsDtype.BF16, SafetensorsDtype.F16)) {
        Path file = dir.resolve(d + ".safetensors");
        SafetensorsWriter.write(file, Map.of("w", a), d, Map.of());
        assertThat(file.toFile().length()).isLessThan(8 + 200 + 2 * 1000);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
          assertThat(f.tensors().get("w").dtype()).isEqualTo(d);
          NDArray back = f.read("w", m);
          assertThat(back.getDataType()).isEqualTo(DataType.FLOAT32);
          float[] b = back.toFloatArray();
          for (int i = 0; i < values.length; i++) {
            float v = values[i];
            if (d == SafetensorsDtype.BF16) {
              assertThat(Math.abs(b[i] - v)).isLessThanOrEqualTo(Math.abs(v) * 0x1p-8f);
            } else if (Math.abs(v) >= 0x1p-14f && Math.abs(v) < 65504) {
              assertThat(Math.abs(b[i] - v)).isLessThanOrEqualTo(Math.abs(v) * 0x1p-11f);
            } else if (Math.abs(v) < 0x1p-14f) {
              assertThat(Math.abs(b[i] - v)).isLessThanOrEqualTo(0x1p-25f);
            } else {
              assertThat(b[i]).isInfinite();
            }
          }
        }
      }
    }
  }

  @Test
  void halfPrecisionBitPatternsAreIeee() {
    assertThat(SafetensorsDtype.floatToBf16(1f)).isEqualTo((short) 0x3F80);
    assertThat(SafetensorsDtype.floatToBf16(-2f)).isEqualTo((short) 0xC000);
    assertThat(SafetensorsDtype.floatToBf16(Float.intBitsToFloat(0x3F808000)))
        .isEqualTo((short) 0x3F80); // tie to even
    assertThat(SafetensorsDtype.floatToBf16(Float.intBitsToFloat(0x3F818000)))
        .isEqualTo((short) 0x3F82); // tie to even
    assertThat(SafetensorsDtype.bf16ToFloat((short) 0x4049)).isEqualTo(3.140625f);
    assertThat(SafetensorsDtype.floatToF16(1f)).isEqualTo((short) 0x3C00);
    assertThat(SafetensorsDtype.floatToF16(65504f)).isEqualTo((short) 0x7BFF);
    assertThat(SafetensorsDtype.floatToF16(1e6f)).isEqualTo((short) 0x7C00);
    assertThat(SafetensorsDtype.floatToF16(-0x1p-24f))
        .isEqualTo((short) 0x8001); // smallest subnormal
    assertThat(SafetensorsDtype.f16ToFloat((short) 0x3555)).isEqualTo(0.33325195f);
    assertThat(SafetensorsDtype.f16ToFloat((short) 0x0001)).isEqualTo(0x1p-24f);
    assertThat(SafetensorsDtype.f16ToFloat((short) 0xFC00)).isEqualTo(Float.NEGATIVE_INFINITY);
    for (int bits = 0;
        bits < 0x7C00;
        bits++) { // every finite positive half survives half -> float -> half
      assertThat(SafetensorsDtype.floatToF16(SafetensorsDtype.f16ToFloat((short) bits)))
          .isEqualTo((short) bits);
    }
  }

  /**
   * Pure bf16's weights: int8 arrays holding bf16 bits are written as BF16 of half the last
   * dimension, their bytes unchanged, and come back from readStored as the same bits, 1-D and in
   * chunks too.
   */
  @Test
  void bf16BitsHeldAsInt8PairsRoundTripAsTheSameBytes(@TempDir Path dir) {
    try (NDManager m = manager.newSubManager()) {
      NDArray matrix = m.create(randoms(50 * 8, 6), new Shape(50, 8));
      NDArray vector = m.create(randoms(40, 7), new Shape(40));
      Path plain = dir.resolve("plain.safetensors");
      SafetensorsWriter.write(
          plain, Map.of("w", matrix, "n", vector), SafetensorsDtype.BF16, Map.of());
      Map<String, NDArray> bits = new LinkedHashMap<>();
      try (SafetensorsFile f = SafetensorsFile.open(plain)) {
        bits.put("w", f.readStored("w", new Shape(50, 8), m));
        bits.put("n", f.readStored("n", new Shape(40), m));
      }
      assertThat(bits.get("w").getDataType()).isEqualTo(DataType.INT8);
      assertThat(bits.get("w").getShape()).isEqualTo(new Shape(50, 16));
      assertThat(bits.get("n").getShape()).isEqualTo(new Shape(80));
      Path again = dir.resolve("again.safetensors");
      SafetensorsWriter.write(again, bits, SafetensorsDtype.F32, Map.of(), 96); // blocks of rows
      try (SafetensorsFile a = SafetensorsFile.open(plain);
          SafetensorsFile b = SafetensorsFile.open(again, 100)) {
        for (String name : List.of("w", "n")) {
          assertThat(b.tensors().get(name).dtype()).isEqualTo(SafetensorsDtype.BF16);
          assertThat(b.tensors().get(name).shape()).isEqualTo(a.tensors().get(name).shape());
          assertThat(b.readStored(name, a.tensors().get(name).shape(), m).toByteArray())
              .as(name)
              .isEqualTo(bits.get(name).toByteArray());
          assertThat(b.read(name, m).toFloatArray()).isEqualTo(a.read(name, m).toFloatArray());
        }
      }
    }
  }

  @Test
  void tensorsLargerThanAChunkAreReadAndWrittenInBlocksOfRows(@TempDir Path dir) {
    try (NDManager m = manager.newSubManager()) {
      NDArray a = m.create(randoms(50 * 8, 5), new Shape(50, 8)); // 32 bytes a row
      Path file = dir.resolve("big.safetensors");
      SafetensorsWriter.write(
          file, Map.of("big", a), SafetensorsDtype.BF16, Map.of(), 96); // 3 rows a block
      try (SafetensorsFile whole = SafetensorsFile.open(file);
          SafetensorsFile chunked = SafetensorsFile.open(file, 100)) { // 3 rows a map
        NDArray x = whole.read("big", m);
        NDArray y = chunked.read("big", m);
        assertThat(y.getShape()).isEqualTo(new Shape(50, 8));
        assertThat(y.contentEquals(x)).isTrue();
        float[] orig = a.toFloatArray();
        float[] back = y.toFloatArray();
        for (int i = 0; i < orig.length; i++) {
          assertThat(back[i])
              .isEqualTo(SafetensorsDtype.bf16ToFloat(SafetensorsDtype.floatToBf16(orig[i])));
        }
      }
    }
  }

  @Test
  void shardedCheckpointRoundTripsThroughTheIndex(@TempDir Path dir) throws Exception {
    try (NDManager m = manager.newSubManager()) {
      Map<String, NDArray> t = tensors(m);
      List<Path> files = SafetensorsWriter.writeSharded(dir, t, SafetensorsDtype.F32, 150);
      assertThat(files).hasSizeGreaterThan(2);
      assertThat(files.get(0).getFileName().toString())
          .matches("model-00001-of-000\\d\\d\\.safetensors");
      assertThat(files.get(files.size() - 1))
          .isEqualTo(dir.resolve("model.safetensors.index.json"));
      assertThat(Files.readString(dir.resolve("model.safetensors.index.json")))
          .contains("\"weight_map\"")
          .contains("\"total_size\"");
      try (SafetensorsCheckpoint c = SafetensorsCheckpoint.open(dir)) {
        assertThat(c.names()).containsExactlyInAnyOrderElementsOf(t.keySet());
        for (var e : t.entrySet()) {
          NDArray back = c.read(e.getKey(), e.getValue().getShape(), m);
          assertThat(back.contentEquals(e.getValue())).as(e.getKey()).isTrue();
        }
      }
    }
  }
}
