package dev.distill.trainer.tokenize;

import dev.distill.spec.Catalog;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.json.JsonMapper;

/** Opens a tokenizer from a spec string or a model directory. */
public final class Tokenizers {

  private static final String CONFIG = "tokenizer_config.json";

  private Tokenizers() {}

  /**
   * Opens a tokenizer.
   *
   * @param spec {@code byte} (the built-in {@link ByteTokenizer}), {@code
   *     file:/path/tokenizer.json}, a path to a {@code tokenizer.json}, or a model directory that
   *     contains one. A directory written by {@link ByteTokenizer#writeTo} gives back the {@link
   *     ByteTokenizer} itself (same ids, pure Java).
   * @throws IllegalArgumentException naming the spec or file when nothing can be opened
   */
  public static Tokenizer load(String spec) {
    if (spec == null || spec.isBlank()) {
      throw new IllegalArgumentException("tokenizer spec is empty");
    }
    if (spec.equals(Catalog.BYTE_TOKENIZER)) {
      return ByteTokenizer.instance();
    }
    Path path = Path.of(spec.startsWith("file:") ? spec.substring("file:".length()) : spec);
    return load(path);
  }

  /** Opens the tokenizer of a {@code tokenizer.json} file or a model directory. */
  public static Tokenizer load(Path fileOrDir) {
    if (Files.isDirectory(fileOrDir)) {
      if (HfTokenizer.isByteTokenizerDir(fileOrDir)) {
        return ByteTokenizer.instance();
      }
      if (!Files.isRegularFile(fileOrDir.resolve("tokenizer.json"))) {
        throw new IllegalArgumentException("no tokenizer.json in model directory " + fileOrDir);
      }
    } else if (!Files.isRegularFile(fileOrDir)) {
      throw new IllegalArgumentException("tokenizer not found: " + fileOrDir);
    }
    return HfTokenizer.load(fileOrDir);
  }

  /**
   * Writes a tokenizer into a model directory so that {@link #load(Path)} and transformers' {@code
   * AutoTokenizer.from_pretrained} both open it with the same ids and special tokens: the byte
   * tokenizer as {@link ByteTokenizer#writeTo}; any other as a copy of its {@code tokenizer.json}
   * with the {@code tokenizer_config.json} and {@code special_tokens_map.json} beside it, and,
   * where the source has no {@code tokenizer_config.json}, one written from this tokenizer's BOS,
   * EOS and pad tokens.
   *
   * @param source the {@code tokenizer.json} or directory it was loaded from; null for the byte
   *     tokenizer
   */
  public static void save(Tokenizer tokenizer, Path source, Path dir) throws IOException {
    if (tokenizer instanceof ByteTokenizer b) {
      b.writeTo(dir);
      return;
    }
    if (source == null) {
      throw new IllegalArgumentException("no source file for tokenizer " + tokenizer);
    }
    Path srcDir = Files.isDirectory(source) ? source : source.toAbsolutePath().getParent();
    Path tokenizerJson = Files.isDirectory(source) ? source.resolve("tokenizer.json") : source;
    Files.copy(tokenizerJson, dir.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
    for (String extra : List.of(CONFIG, "special_tokens_map.json")) {
      if (Files.isRegularFile(srcDir.resolve(extra))) {
        Files.copy(srcDir.resolve(extra), dir.resolve(extra), StandardCopyOption.REPLACE_EXISTING);
      }
    }
    if (!Files.isRegularFile(dir.resolve(CONFIG))) {
      writeConfig(tokenizer, dir.resolve(CONFIG));
    }
  }

  /**
   * A {@code tokenizer_config.json} for transformers' fast tokenizer over {@code tokenizer.json}:
   * the special tokens by name, nothing added around the text (as {@link Tokenizer#encode} does),
   * and no clean-up of spaces when decoding (as DJL's decode).
   */
  private static void writeConfig(Tokenizer tokenizer, Path file) throws IOException {
    Map<String, Object> config = new LinkedHashMap<>();
    config.put("tokenizer_class", "PreTrainedTokenizerFast");
    putIfPresent(config, "bos_token", tokenizer.bosToken());
    putIfPresent(config, "eos_token", tokenizer.eosToken());
    putIfPresent(config, "pad_token", tokenizer.padToken());
    config.put("add_bos_token", false);
    config.put("add_eos_token", false);
    config.put("clean_up_tokenization_spaces", false);
    config.put("model_max_length", 1_000_000_000);
    Files.writeString(
        file,
        JsonMapper.builder().build().writerWithDefaultPrettyPrinter().writeValueAsString(config)
            + "\n");
  }

  private static void putIfPresent(Map<String, Object> config, String key, String token) {
    if (token != null && !token.isEmpty()) {
      config.put(key, token);
    }
  }
}
