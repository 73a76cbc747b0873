package dev.distill.trainer.generate;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The special token ids of a Hugging Face {@code generation_config.json}, the file {@code
 * model.generate} reads to know when to stop. Its keys are named only here.
 *
 * @param bosTokenId bos_token_id, or null
 * @param eosTokenIds eos_token_id: generation stops at any of them (the tokenizer's EOS and the
 *     chat template's end-of-turn token), in order, without repeats
 * @param padTokenId pad_token_id, or null
 */
public record GenerationConfig(Integer bosTokenId, List<Integer> eosTokenIds, Integer padTokenId) {

  /** The file name in a model directory. */
  public static final String FILE = "generation_config.json";

  private static final JsonMapper JSON = JsonMapper.builder().build();

  public GenerationConfig {
    eosTokenIds = eosTokenIds == null ? List.of() : List.copyOf(new LinkedHashSet<>(eosTokenIds));
    for (Integer id : eosTokenIds) {
      if (id == null || id < 0) {
        throw new IllegalArgumentException("eos_token_id=" + id + " must be >= 0");
      }
    }
    if (bosTokenId != null && bosTokenId < 0) {
      throw new IllegalArgumentException("bos_token_id=" + bosTokenId + " must be >= 0");
    }
    if (padTokenId != null && padTokenId < 0) {
      throw new IllegalArgumentException("pad_token_id=" + padTokenId + " must be >= 0");
    }
  }

  /** The ids that end a generation, for {@link GenerationOptions#stopTokenIds()}. */
  public Set<Integer> stopTokenIds() {
    return Set.copyOf(eosTokenIds);
  }

  /** Writes {@value #FILE} into a model directory. */
  public void writeTo(Path dir) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("bos_token_id", bosTokenId);
    m.put("eos_token_id", eosTokenIds.size() == 1 ? eosTokenIds.get(0) : eosTokenIds);
    m.put("pad_token_id", padTokenId);
    Path file = dir.resolve(FILE);
    try {
      Files.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(m) + "\n");
    } catch (IOException e) {
      throw new UncheckedIOException(file + ": cannot write: " + e.getMessage(), e);
    }
  }

  /**
   * Reads {@value #FILE} of a model directory; errors name the file and the key.
   *
   * @throws IllegalArgumentException when the file is missing or a token id is not an integer
   */
  public static GenerationConfig read(Path dir) {
    Path file = dir.resolve(FILE);
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException(file + ": missing");
    }
    JsonNode root;
    try {
      root = JSON.readTree(file.toFile());
    } catch (JacksonException e) {
      throw new IllegalArgumentException(file + ": not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException(file + ": not a JSON object");
    }
    JsonNode eos = root.path("eos_token_id");
    List<Integer> eosIds = new ArrayList<>();
    if (eos.isArray()) {
      for (JsonNode n : eos) {
        eosIds.add(id(file, "eos_token_id", n));
      }
    } else if (!eos.isMissingNode() && !eos.isNull()) {
      eosIds.add(id(file, "eos_token_id", eos));
    }
    return new GenerationConfig(
        nullableId(file, "bos_token_id", root.path("bos_token_id")),
        eosIds,
        nullableId(file, "pad_token_id", root.path("pad_token_id")));
  }

  private static Integer nullableId(Path file, String key, JsonNode n) {
    return n.isMissingNode() || n.isNull() ? null : id(file, key, n);
  }

  private static int id(Path file, String key, JsonNode n) {
    if (!n.isIntegralNumber() || !n.canConvertToInt()) {
      throw new IllegalArgumentException(file + ": " + key + "=" + n + " is not a token id");
    }
    return n.asInt();
  }
}
