package dev.distill.trainer.tokenize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distill.trainer.data.SharedDatasets;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

class HfTokenizerTest {

  private static final JsonMapper JSON = JsonMapper.builder().build();

  /** A WordLevel tokenizer over whitespace-split words. */
  static Path writeWordLevel(Path dir) throws IOException {
    return writeWordLevel(dir, null);
  }

  static Path writeWordLevel(Path dir, Map<String, Object> truncation) throws IOException {
    Map<String, Integer> vocab = new LinkedHashMap<>();
    for (String w : List.of("<pad>", "<bos>", "<eos>", "<unk>", "<start_of_turn>")) {
      vocab.put(w, vocab.size());
    }
    for (String w : "the cat sat on a mat".split(" ")) {
      vocab.put(w, vocab.size());
    }
    List<Object> added = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      added.add(TokenizerFixtures.specialToken(i, (String) vocab.keySet().toArray()[i], false));
    }
    return TokenizerFixtures.writeTokenizerJson(
        dir,
        truncation,
        added,
        Map.of("type", "Whitespace"),
        null,
        null,
        Map.of("type", "WordLevel", "vocab", vocab, "unk_token", "<unk>"));
  }

  @Test
  void wordLevelLongTextIsNotTruncated(@TempDir Path dir) throws IOException {
    Path file = writeWordLevel(dir);
    String text = String.join(" ", java.util.Collections.nCopies(300, "the cat sat on a mat"));
    try (HfTokenizer tok = HfTokenizer.load(file)) {
      int[] ids = tok.encode(text);
      assertThat(ids).hasSize(1800); // far beyond DJL's default 512
      assertThat(ids[1799]).isEqualTo(10); // "mat"
      assertThat(tok.encode("the dog")).containsExactly(5, 3); // unknown word -> <unk>
      assertThat(tok.vocabSize()).isEqualTo(11);
      assertThat(tok.bosId()).isEqualTo(1);
      assertThat(tok.eosId()).isEqualTo(2);
      assertThat(tok.padId()).isEqualTo(0);
      assertThat(tok.bosToken()).isEqualTo("<bos>");
      assertThat(tok.specialId("<start_of_turn>")).hasValue(4);
      assertThat(tok.encode("<start_of_turn>the")).containsExactly(4, 5);
    }
  }

  /**
   * A SentencePiece-like tokenizer: Metaspace marks every word start with "▁", including the start
   * of any text it is given, as Llama 2's and Phi-3's tokenizers do.
   */
  static Path writeMetaspace(Path dir) throws IOException {
    Map<String, Integer> vocab = new LinkedHashMap<>();
    for (String w :
        List.of(
            "<pad>",
            "<bos>",
            "<eos>",
            "<unk>",
            "<start_of_turn>",
            "\u2581",
            "\u2581the",
            "\u2581cat",
            "\u2581sat",
            "\u2581on",
            "\u2581a",
            "\u2581mat",
            "\u2581\u00e9")) {
      vocab.put(w, vocab.size());
    }
    return TokenizerFixtures.writeTokenizerJson(
        dir,
        null,
        List.of(TokenizerFixtures.specialToken(4, "<start_of_turn>", false)),
        Map.of(
            "type",
            "Metaspace",
            "replacement",
            "\u2581",
            "prepend_scheme",
            "always",
            "split",
            true),
        null,
        null,
        Map.of("type", "WordLevel", "vocab", vocab, "unk_token", "<unk>"));
  }

  @Test
  void piecesGetTheTokensOfTheWholeTextNotAMarkerEach(@TempDir Path dir) throws IOException {
    try (HfTokenizer tok = HfTokenizer.load(writeMetaspace(dir))) {
      List<String> pieces = List.of("<start_of_turn>the cat ", "sat on a mat");
      int[] whole = tok.encode(String.join("", pieces));
      // one piece at a time, the prompt's trailing space becomes a lone marker token: a token the
      // whole text does not have
      int[] separately = concat(new int[][] {tok.encode(pieces.get(0)), tok.encode(pieces.get(1))});
      assertThat(separately).isNotEqualTo(whole).hasSize(whole.length + 1);
      int[][] split = tok.encodePieces(pieces);
      assertThat(concat(split)).isEqualTo(whole);
      // "▁sat" starts at the prompt's space but ends in the response: the response's first token
      assertThat(split[0]).containsExactly(4, 6, 7); // <start_of_turn> ▁the ▁cat
      assertThat(split[1]).containsExactly(8, 9, 10, 11); // ▁sat ▁on ▁a ▁mat
      // offsets count characters, not UTF-8 bytes: three two-byte letters stay in the first piece
      int[][] accents = tok.encodePieces(List.of("\u00e9 \u00e9 \u00e9 ", "cat"));
      assertThat(accents[0]).containsExactly(12, 12, 12);
      assertThat(accents[1]).containsExactly(7);
      // an empty piece gets no token
      int[][] empty = tok.encodePieces(List.of("the", "", " cat"));
      assertThat(empty[1]).isEmpty();
      assertThat(concat(empty)).isEqualTo(tok.encode("the cat"));
    }
  }

  private static int[] concat(int[][] parts) {
    return java.util.Arrays.stream(parts).flatMapToInt(java.util.Arrays::stream).toArray();
  }

  @Test
  void truncationWrittenInTheFileIsIgnored(@TempDir Path dir) throws IOException {
    Path file =
        writeWordLevel(
            dir,
            Map.of("direction", "Right", "max_length", 8, "strategy", "LongestFirst", "stride", 0));
    try (HfTokenizer tok = HfTokenizer.load(file)) {
      assertThat(tok.encode("the cat sat on a mat the cat sat on a mat")).hasSize(12);
    }
  }

  @Test
  void gpt2BpeFromTheSharedFiles(@TempDir Path dir) throws IOException {
    Path file = TokenizerFixtures.writeGpt2(dir);
    try (HfTokenizer tok = HfTokenizer.load(dir)) {
      assertThat(tok.vocabSize()).isEqualTo(50257);
      // ids as produced by OpenAI's GPT-2 encoder (tiktoken "gpt2")
      assertThat(tok.encode("Hello, world!")).containsExactly(15496, 11, 995, 0);
      assertThat(tok.eosId()).isEqualTo(50256);
      assertThat(tok.bosId()).isEqualTo(50256);
      assertThat(tok.encode("<|endoftext|>")).containsExactly(50256);
      String verdict =
          Files.readString(SharedDatasets.file("the-verdict.txt"), StandardCharsets.UTF_8);
      int[] ids = tok.encode(verdict);
      assertThat(ids.length).isGreaterThan(512);
      assertThat(tok.decode(ids)).isEqualTo(verdict);
    }
    assertThat(file).exists();
  }

  @Test
  void missingOrBrokenFilesNameTheFile(@TempDir Path dir) throws IOException {
    assertThatThrownBy(() -> Tokenizers.load(dir.toString()))
        .hasMessageContaining(dir.toString())
        .hasMessageContaining("tokenizer.json");
    Path bad = dir.resolve("bad.json");
    Files.writeString(bad, "{\"model\": {\"vocab\": [1, 2");
    assertThatThrownBy(() -> Tokenizers.load("file:" + bad)).hasMessageContaining(bad.toString());
  }

  @Test
  void savedIntoAModelDirectoryItComesBackWithItsSpecialTokens(@TempDir Path dir)
      throws IOException {
    Path source = TokenizerFixtures.writeGpt2(Files.createDirectories(dir.resolve("src")));
    Path model = Files.createDirectories(dir.resolve("model"));
    try (HfTokenizer tok = HfTokenizer.load(source)) {
      Tokenizers.save(tok, source, model);
    }
    JsonNode config = JSON.readTree(model.resolve("tokenizer_config.json").toFile());
    assertThat(config.get("tokenizer_class").asString()).isEqualTo("PreTrainedTokenizerFast");
    assertThat(config.get("bos_token").asString()).isEqualTo("<|endoftext|>");
    assertThat(config.get("eos_token").asString()).isEqualTo("<|endoftext|>");
    assertThat(config.get("pad_token").asString()).isEqualTo("<|endoftext|>");
    assertThat(config.get("clean_up_tokenization_spaces").asBoolean()).isFalse();
    try (Tokenizer back = Tokenizers.load(model)) {
      assertThat(back.vocabSize()).isEqualTo(50257);
      assertThat(back.eosId()).isEqualTo(50256);
      assertThat(back.padId()).isEqualTo(50256);
      assertThat(back.encode("Hello, world!")).containsExactly(15496, 11, 995, 0);
    }
    // a source's own tokenizer_config.json is kept as it is
    Files.writeString(
        source.resolveSibling("tokenizer_config.json"), "{\"eos_token\": \"<|endoftext|>\"}");
    try (HfTokenizer tok = HfTokenizer.load(source)) {
      Tokenizers.save(tok, source, model);
    }
    assertThat(Files.readString(model.resolve("tokenizer_config.json")))
        .isEqualTo("{\"eos_token\": \"<|endoftext|>\"}");
  }
}
