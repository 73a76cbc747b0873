package dev.distill.trainer.tokenize;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.CharSpan;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A Hugging Face {@code tokenizer.json} through DJL's {@link HuggingFaceTokenizer}, built with
 * truncation and padding off (DJL truncates to 512 tokens otherwise) and without adding special
 * tokens. The vocabulary size and the special-token ids are read from the file itself (streamed:
 * Gemma's file is 34 MB); the BOS/EOS/PAD names come from {@code tokenizer_config.json} beside it
 * when present, else from the usual names ({@code <bos>}, {@code <s>}, {@code <|begin_of_text|>},
 * ...).
 */
public final class HfTokenizer implements Tokenizer {

  private static final List<String> BOS_NAMES =
      List.of("<bos>", "<s>", "<|begin_of_text|>", "<|startoftext|>", "<|endoftext|>");
  private static final List<String> EOS_NAMES =
      List.of("<eos>", "</s>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>");
  private static final List<String> PAD_NAMES = List.of("<pad>", "[PAD]", "<|padding|>", "<|pad|>");

  private final Path file;
  private final HuggingFaceTokenizer djl;
  private final int vocabSize;
  private final Map<String, Integer> specials;
  private final String bosToken;
  private final String eosToken;
  private final String padToken;
  private final int bosId;
  private final int eosId;
  private final int padId;

  private HfTokenizer(
      Path file, HuggingFaceTokenizer djl, VocabInfo info, Map<String, String> names) {
    this.file = file;
    this.djl = djl;
    this.vocabSize = info.size;
    this.specials = info.specials;
    this.bosToken = pick(names.get("bos_token"), BOS_NAMES);
    this.eosToken = pick(names.get("eos_token"), EOS_NAMES);
    this.bosId = bosToken.isEmpty() ? -1 : specials.get(bosToken);
    this.eosId = eosToken.isEmpty() ? -1 : specials.get(eosToken);
    String pad = pick(names.get("pad_token"), PAD_NAMES);
    this.padId = !pad.isEmpty() ? specials.get(pad) : eosId >= 0 ? eosId : 0;
    this.padToken = !pad.isEmpty() ? pad : eosToken;
  }

  /**
   * Loads a {@code tokenizer.json} file, or the one in a model directory.
   *
   * @throws IllegalArgumentException naming the file when it is missing or not a tokenizer
   */
  public static HfTokenizer load(Path fileOrDir) {
    Path file = Files.isDirectory(fileOrDir) ? fileOrDir.resolve("tokenizer.json") : fileOrDir;
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("tokenizer file not found: " + file);
    }
    VocabInfo info = readVocab(file);
    Map<String, String> names = readSpecialNames(file.resolveSibling("tokenizer_config.json"));
    if (names.isEmpty()) {
      names = readSpecialNames(file.resolveSibling("special_tokens_map.json"));
    }
    HuggingFaceTokenizer djl;
    try {
      djl =
          HuggingFaceTokenizer.builder()
              .optTokenizerPath(file)
              .optAddSpecialTokens(false)
              .optTruncation(false)
              .optPadding(false)
              .build();
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException(
          "cannot load tokenizer " + file + ": " + e.getMessage(), e);
    }
    return new HfTokenizer(file, djl, info, names);
  }

  /** The file this tokenizer was loaded from. */
  public Path file() {
    return file;
  }

  /**
   * {@inheritDoc}
   *
   * <p>Here the whole text is encoded once and its tokens are handed to the pieces by their
   * character offsets: a token goes to the piece that holds its last character. So a SentencePiece
   * tokenizer's "▁" marker is added once at the start of the text, not at every piece, and a token
   * that spans a boundary (a leading space of a response merged into its first word) belongs to the
   * later piece, as the model has to produce it there.
   */
  @Override
  public int[][] encodePieces(List<String> pieces) {
    int[] ends = new int[pieces.size()]; // exclusive end offset of each piece in the whole text
    StringBuilder whole = new StringBuilder();
    for (int i = 0; i < ends.length; i++) {
      whole.append(pieces.get(i));
      ends[i] = whole.length();
    }
    Encoding encoding = djl.encode(whole.toString(), false, false);
    long[] ids = encoding.getIds();
    CharSpan[] spans = encoding.getCharTokenSpans();
    int[] pieceOf = new int[ids.length];
    int[] counts = new int[ends.length];
    int piece = 0;
    for (int t = 0; t < ids.length; t++) {
      CharSpan span = spans == null || t >= spans.length ? null : spans[t];
      if (span != null && span.getEnd() > span.getStart()) {
        int last = span.getEnd() - 1; // offsets count UTF-16 chars, like String.length()
        piece = 0;
        while (piece < ends.length - 1 && last >= ends[piece]) {
          piece++;
        }
      } // a token without characters stays with the piece of the token before it
      pieceOf[t] = piece;
      counts[piece]++;
    }
    int[][] out = new int[ends.length][];
    for (int i = 0; i < out.length; i++) {
      out[i] = new int[counts[i]];
    }
    int[] filled = new int[ends.length];
    for (int t = 0; t < ids.length; t++) {
      out[pieceOf[t]][filled[pieceOf[t]]++] = (int) ids[t];
    }
    return out;
  }

  @Override
  public int[] encode(String text) {
    long[] ids = djl.encode(text, false, false).getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = (int) ids[i];
    }
    return out;
  }

  @Override
  public String decode(int[] ids) {
    return decode(ids, false);
  }

  @Override
  public String decode(int[] ids, boolean skipSpecial) {
    long[] l = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= vocabSize) {
        throw new IllegalArgumentException(
            "token id " + ids[i] + " is outside the vocabulary [0, " + vocabSize + ") of " + file);
      }
      l[i] = ids[i];
    }
    return djl.decode(l, skipSpecial);
  }

  @Override
  public int vocabSize() {
    return vocabSize;
  }

  @Override
  public int bosId() {
    return bosId;
  }

  @Override
  public int eosId() {
    return eosId;
  }

  @Override
  public int padId() {
    return padId;
  }

  @Override
  public String bosToken() {
    return bosToken;
  }

  @Override
  public String eosToken() {
    return eosToken;
  }

  @Override
  public String padToken() {
    return padToken;
  }

  @Override
  public OptionalInt specialId(String token) {
    Integer id = specials.get(token);
    return id == null ? OptionalInt.empty() : OptionalInt.of(id);
  }

  @Override
  public void close() {
    djl.close();
  }

  private String pick(String configured, List<String> candidates) {
    if (configured != null) {
      if (!specials.containsKey(configured)) {
        throw new IllegalArgumentException(
            "special token '" + configured + "' named in the tokenizer config is not in " + file);
      }
      return configured;
    }
    for (String c : candidates) {
      if (specials.containsKey(c)) {
        return c;
      }
    }
    return "";
  }

  /** Vocabulary size and the ids of added tokens and of vocabulary entries that look special. */
  private record VocabInfo(int size, Map<String, Integer> specials) {}

  private static VocabInfo readVocab(Path file) {
    JsonMapper mapper = JsonMapper.builder().build();
    int max = -1;
    Map<String, Integer> specials = new HashMap<>();
    boolean sawModel = false;
    try (JsonParser p = mapper.createParser(file.toFile())) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw new IllegalArgumentException("not a tokenizer.json (no top-level object): " + file);
      }
      while (p.nextToken() == JsonToken.PROPERTY_NAME) {
        String name = p.currentName();
        p.nextToken();
        if (name.equals("added_tokens") && p.currentToken() == JsonToken.START_ARRAY) {
          while (p.nextToken() == JsonToken.START_OBJECT) {
            JsonNode t = p.readValueAsTree();
            int id = t.path("id").asInt(-1);
            String content = t.path("content").asString(null);
            if (id >= 0 && content != null) {
              specials.put(content, id);
              max = Math.max(max, id);
            }
          }
        } else if (name.equals("model") && p.currentToken() == JsonToken.START_OBJECT) {
          sawModel = true;
          while (p.nextToken() == JsonToken.PROPERTY_NAME) {
            String key = p.currentName();
            JsonToken v = p.nextToken();
            if (key.equals("vocab") && v == JsonToken.START_OBJECT) {
              // BPE, WordLevel, WordPiece: {"token": id, ...}
              while (p.nextToken() == JsonToken.PROPERTY_NAME) {
                String token = p.currentName();
                p.nextToken();
                int id = p.getIntValue();
                max = Math.max(max, id);
                if (looksSpecial(token)) {
                  specials.putIfAbsent(token, id);
                }
              }
            } else if (key.equals("vocab") && v == JsonToken.START_ARRAY) {
              // Unigram: [["piece", score], ...], the id is the index
              int id = 0;
              while (p.nextToken() == JsonToken.START_ARRAY) {
                p.nextToken();
                String token = p.getString();
                if (looksSpecial(token)) {
                  specials.putIfAbsent(token, id);
                }
                p.skipChildren();
                while (p.currentToken() != JsonToken.END_ARRAY) {
                  p.nextToken();
                }
                max = Math.max(max, id++);
              }
            } else {
              p.skipChildren();
            }
          }
        } else {
          p.skipChildren();
        }
      }
    } catch (JacksonException e) {
      throw new IllegalArgumentException("cannot read " + file + ": " + e.getOriginalMessage(), e);
    }
    if (!sawModel || max < 0) {
      throw new IllegalArgumentException("not a tokenizer.json (no model vocabulary): " + file);
    }
    return new VocabInfo(max + 1, Map.copyOf(specials));
  }

  private static boolean looksSpecial(String token) {
    return token.length() >= 3
        && token.length() <= 64
        && ((token.startsWith("<") && token.endsWith(">"))
            || (token.startsWith("[") && token.endsWith("]")));
  }

  /**
   * {@code bos_token}, {@code eos_token}, {@code pad_token}: strings or {"content": ...} objects.
   */
  private static Map<String, String> readSpecialNames(Path config) {
    Map<String, String> out = new HashMap<>();
    if (!Files.isRegularFile(config)) {
      return out;
    }
    try {
      JsonNode root = JsonMapper.builder().build().readTree(config.toFile());
      for (String key : List.of("bos_token", "eos_token", "pad_token")) {
        JsonNode n = root.path(key);
        String v = n.isString() ? n.asString() : n.path("content").asString(null);
        if (v != null) {
          out.put(key, v);
        }
      }
    } catch (JacksonException e) {
      throw new IllegalArgumentException(
          "cannot read " + config + ": " + e.getOriginalMessage(), e);
    }
    return out;
  }

  /** Whether {@code dir}'s tokenizer config marks the project's byte tokenizer. */
  static boolean isByteTokenizerDir(Path dir) {
    Path config = dir.resolve("tokenizer_config.json");
    if (!Files.isRegularFile(config)) {
      return false;
    }
    try {
      return "byte"
          .equals(
              JsonMapper.builder()
                  .build()
                  .readTree(config.toFile())
                  .path(ByteTokenizer.CONFIG_MARKER)
                  .asString(null));
    } catch (JacksonException e) {
      throw new UncheckedIOException(
          new IOException("cannot read " + config + ": " + e.getOriginalMessage(), e));
    }
  }
}
