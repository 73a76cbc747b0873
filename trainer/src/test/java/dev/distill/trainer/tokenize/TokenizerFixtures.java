package dev.distill.trainer.tokenize;

import dev.distill.trainer.data.SharedDatasets;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** Real tokenizers for tests, built from the shared reference files. */
public final class TokenizerFixtures {

  private static final JsonMapper JSON = JsonMapper.builder().build();

  private TokenizerFixtures() {}

  /** Builds a tokenizer.json from GPT-2's encoder.json and vocab.bpe. */
  public static Path writeGpt2(Path dir) throws IOException {
    JsonNode encoder = JSON.readTree(SharedDatasets.file("gpt2-encoder.json").toFile());
    List<String> merges = new ArrayList<>();
    for (String line :
        Files.readAllLines(SharedDatasets.file("gpt2-vocab.bpe"), StandardCharsets.UTF_8)) {
      if (!line.startsWith("#version") && !line.isBlank()) {
        merges.add(line);
      }
    }
    Map<String, Object> byteLevel =
        Map.of(
            "type",
            "ByteLevel",
            "add_prefix_space",
            false,
            "trim_offsets",
            true,
            "use_regex",
            true);
    Map<String, Object> model = new LinkedHashMap<>();
    model.put("type", "BPE");
    model.put("dropout", null);
    model.put("unk_token", null);
    model.put("continuing_subword_prefix", "");
    model.put("end_of_word_suffix", "");
    model.put("fuse_unk", false);
    model.put("byte_fallback", false);
    model.put("vocab", encoder);
    model.put("merges", merges);
    return writeTokenizerJson(
        dir,
        null,
        List.of(specialToken(50256, "<|endoftext|>", true)),
        byteLevel,
        byteLevel,
        byteLevel,
        model);
  }

  /** One entry of {@code added_tokens}: a special token, never split or stripped. */
  static Map<String, Object> specialToken(int id, String content, boolean normalized) {
    Map<String, Object> t = new LinkedHashMap<>();
    t.put("id", id);
    t.put("content", content);
    t.put("single_word", false);
    t.put("lstrip", false);
    t.put("rstrip", false);
    t.put("normalized", normalized);
    t.put("special", true);
    return t;
  }

  /**
   * Writes {@code dir/tokenizer.json} with the fields every tokenizer.json has (no normalizer, no
   * padding) and the given parts; null parts are written as null.
   */
  static Path writeTokenizerJson(
      Path dir,
      Object truncation,
      List<?> addedTokens,
      Object preTokenizer,
      Object postProcessor,
      Object decoder,
      Object model)
      throws IOException {
    Map<String, Object> json = new LinkedHashMap<>();
    json.put("version", "1.0");
    json.put("truncation", truncation);
    json.put("padding", null);
    json.put("added_tokens", addedTokens);
    json.put("normalizer", null);
    json.put("pre_tokenizer", preTokenizer);
    json.put("post_processor", postProcessor);
    json.put("decoder", decoder);
    json.put("model", model);
    Path file = dir.resolve("tokenizer.json");
    JSON.writeValue(file.toFile(), json);
    return file;
  }
}
