package dev.distill.trainer.safetensors;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad files fail with a message naming the file and, where one is at fault, the tensor. */
class SafetensorsErrorsTest {

  static NDManager manager;

  @BeforeAll
  static void setUp() {
    manager = NDManager.newBaseManager();
  }

  @AfterAll
  static void tearDown() {
    manager.close();
  }

  static Path file(Path dir, long headerLen, String header, int dataBytes) throws Exception {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(headerLen).put(h);
    Path f = dir.resolve("model.safetensors");
    Files.write(f, b.array());
    return f;
  }

  @Test
  void missingTensor(@TempDir Path dir) throws Exception {
    Path f =
        file(dir, 60, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}      ", 8);
    try (SafetensorsCheckpoint c = SafetensorsCheckpoint.open(dir)) {
      assertThatThrownBy(() -> c.read("model.norm.weight", new Shape(2), manager))
          .hasMessageContaining(f.toString())
          .hasMessageContaining("missing tensor 'model.norm.weight'");
    }
  }

  @Test
  void wrongShape(@TempDir Path dir) throws Exception {
    Path f = file(dir, 54, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    try (SafetensorsCheckpoint c = SafetensorsCheckpoint.open(dir)) {
      assertThatThrownBy(() -> c.read("a", new Shape(3), manager))
          .hasMessageContaining(f.toString())
          .hasMessageContaining("tensor 'a' has shape (2), expected (3)");
    }
  }

  @Test
  void badHeaderLength(@TempDir Path dir) throws Exception {
    Path f = file(dir, 1L << 40, "{}", 0);
    assertThatThrownBy(() -> SafetensorsFile.open(f))
        .hasMessageContaining(f.toString())
        .hasMessageContaining("bad header length");
    Files.write(f, new byte[] {1, 2, 3});
    assertThatThrownBy(() -> SafetensorsFile.open(f))
        .hasMessageContaining(f.toString())
        .hasMessageContaining("too short");
  }

  @Test
  void badJson(@TempDir Path dir) throws Exception {
    Path f = file(dir, 9, "{\"a\": [1,", 0);
    assertThatThrownBy(() -> SafetensorsFile.open(f))
        .hasMessageContaining(f.toString())
        .hasMessageContaining("not valid JSON");
  }

  @Test
  void offsetsOutOfRange(@TempDir Path dir) throws Exception {
    Path f =
        file(dir, 57, "{\"w.x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8);
    assertThatThrownBy(() -> SafetensorsFile.open(f))
        .hasMessageContaining(f.toString())
        .hasMessageContaining("tensor 'w.x'")
        .hasMessageContaining("out of range");
  }

  @Test
  void offsetsThatDoNotFitTheShape(@TempDir Path dir) throws Exception {
    Path f = file(dir, 56, "{\"w.x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8);
    assertThatThrownBy(() -> SafetensorsFile.open(f))
        .hasMessageContaining(f.toString())
        .hasMessageContaining("tensor 'w.x'")
        .hasMessageContaining("do not hold shape (3)");
  }

  @Test
  void unknownDtype(@TempDir Path dir) throws Exception {
    Path f =
        file(dir, 60, "{\"w.y\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2);
    assertThatThrownBy(() -> SafetensorsFile.open(f))
        .hasMessageContaining(f.toString())
        .hasMessageContaining("tensor 'w.y'")
        .hasMessageContaining("unknown dtype 'F8_E4M3'");
  }

  @Test
  void indexPointingAtAFileWithoutTheTensor(@TempDir Path dir) throws Exception {
    try (var m = manager.newSubManager()) {
      SafetensorsWriter.write(
          dir.resolve("model-00001-of-00001.safetensors"),
          Map.of("a", m.create(new float[] {1, 2}, new Shape(2))),
          SafetensorsDtype.F32,
          Map.of());
    }
    Path index = dir.resolve("model.safetensors.index.json");
    Files.writeString(index, "{\"weight_map\": {\"b\": \"model-00001-of-00001.safetensors\"}}");
    assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir))
        .hasMessageContaining(index.toString())
        .hasMessageContaining("tensor 'b'");
  }

  @Test
  void directoryWithoutWeights(@TempDir Path dir) {
    assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir))
        .hasMessageContaining(dir.toString())
        .hasMessageContaining("model.safetensors");
  }
}
