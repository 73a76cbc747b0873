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
    Map<String, Object> json = new LinkedHashMap<>();
    json.put("version", "1.0");
    json.put("truncation", null);
    json.put("padding", null);
    json.put(
        "added_tokens",
        List.of(
            Map.of(
                "id",
                50256,
                "content",
                "<|endoftext|>",
                "single_word",
                false,
                "lstrip",
                false,
                "rstrip",
                false,
                "normalized",
                true,
                "special",
                true)));
    json.put("normalizer", null);
    json.put("pre_tokenizer", byteLevel);
    json.put("post_processor", byteLevel);
    json.put("decoder", byteLevel);
    json.put("model", model);
    Path file = dir.resolve("tokenizer.json");
    JSON.writeValue(file.toFile(), json);
    return file;
  }
}
