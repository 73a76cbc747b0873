package dev.distill.trainer.tokenize;

import dev.distill.spec.Catalog;
import java.nio.file.Files;
import java.nio.file.Path;

/** Opens a tokenizer from a spec string or a model directory. */
public final class Tokenizers {

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
}
