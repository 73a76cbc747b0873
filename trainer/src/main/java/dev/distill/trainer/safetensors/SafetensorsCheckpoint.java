package dev.distill.trainer.safetensors;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.json.JsonMapper;

/**
 * The weights of a Hugging Face model directory: {@code model.safetensors}, or the shards listed by
 * {@code model.safetensors.index.json}. Errors name the file and the tensor.
 */
public final class SafetensorsCheckpoint implements AutoCloseable {

  /** The single-file weights name. */
  public static final String SINGLE_FILE = "model.safetensors";

  /** The shard index name. */
  public static final String INDEX_FILE = "model.safetensors.index.json";

  private static final JsonMapper JSON = JsonMapper.builder().build();

  private final Path dir;
  private final Map<String, SafetensorsFile> files = new LinkedHashMap<>();
  private final Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();

  private SafetensorsCheckpoint(Path dir) {
    this.dir = dir;
  }

  /** Opens the weights of a model directory (single file or shards). */
  public static SafetensorsCheckpoint open(Path dir) {
    SafetensorsCheckpoint c = new SafetensorsCheckpoint(dir);
    try {
      Path index = dir.resolve(INDEX_FILE);
      Path single = dir.resolve(SINGLE_FILE);
      if (Files.isRegularFile(index)) {
        c.openIndex(index);
      } else if (Files.isRegularFile(single)) {
        SafetensorsFile f = SafetensorsFile.open(single);
        c.files.put(SINGLE_FILE, f);
        f.tensors().keySet().forEach(n -> c.byTensor.put(n, f));
      } else {
        throw new IllegalArgumentException(
            dir
                + ": no "
                + SINGLE_FILE
                + " and no "
                + INDEX_FILE
                + ": not a Hugging Face model directory");
      }
      return c;
    } catch (RuntimeException e) {
      c.close();
      throw e;
    }
  }

  private void openIndex(Path index) {
    Map<String, Object> json;
    try {
      json = JSON.readValue(Files.readAllBytes(index), Map.class);
    } catch (IOException e) {
      throw new UncheckedIOException(index + ": cannot read: " + e, e);
    } catch (JacksonException e) {
      throw new IllegalArgumentException(index + ": not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (!(json.get("weight_map") instanceof Map<?, ?> weightMap)) {
      throw new IllegalArgumentException(index + ": has no 'weight_map' object");
    }
    for (var e : weightMap.entrySet()) {
      String tensor = String.valueOf(e.getKey());
      String file = String.valueOf(e.getValue());
      if (file.contains("/") || file.contains("\\") || file.equals("..")) {
        throw new IllegalArgumentException(
            index + ": tensor '" + tensor + "' maps to a path outside: " + file);
      }
      SafetensorsFile f =
          files.computeIfAbsent(file, name -> SafetensorsFile.open(dir.resolve(name)));
      if (!f.tensors().containsKey(tensor)) {
        throw new IllegalArgumentException(
            index
                + ": tensor '"
                + tensor
                + "' is listed in "
                + file
                + " but that file does not hold it");
      }
      byTensor.put(tensor, f);
    }
  }

  /** Every tensor name. */
  public Set<String> names() {
    return byTensor.keySet();
  }

  /** The stored entry of a tensor, or null. */
  public TensorInfo info(String name) {
    SafetensorsFile f = byTensor.get(name);
    return f == null ? null : f.tensors().get(name);
  }

  /**
   * Reads a tensor as fp32 (floating dtypes) and checks its shape.
   *
   * @throws IllegalArgumentException naming the file and tensor when it is missing or has another
   *     shape
   */
  public NDArray read(String name, Shape expected, NDManager manager) {
    SafetensorsFile f = byTensor.get(name);
    if (f == null) {
      String where =
          files.size() == 1 ? files.values().iterator().next().path().toString() : dir.toString();
      throw new IllegalArgumentException(where + ": missing tensor '" + name + "'");
    }
    return f.read(name, expected, manager);
  }

  /**
   * Reads a tensor keeping a 2-byte floating dtype as stored ({@link SafetensorsFile#readStored}):
   * BF16 as int8 pairs of shape (..., 2 n), F16 as float16; F32 as fp32.
   */
  public NDArray readStored(String name, Shape expected, NDManager manager) {
    SafetensorsFile f = byTensor.get(name);
    if (f == null) {
      return read(name, expected, manager); // names the missing tensor
    }
    return f.readStored(name, expected, manager);
  }

  @Override
  public void close() {
    for (SafetensorsFile f : files.values()) {
      f.close();
    }
    files.clear();
  }
}
