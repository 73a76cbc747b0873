package dev.distill.trainer.tokenize;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import tools.jackson.databind.json.JsonMapper;

/**
 * The built-in byte-level tokenizer for models trained from scratch: ids {@code 0..S-1} are the
 * special tokens of {@link #SPECIALS} (padding, BOS, EOS, UNK and the markers of every supported
 * prompt template, each a single token), ids {@code S..S+255} the 256 byte values of the UTF-8
 * text. Deterministic and stateless. {@link #writeTo(Path)} writes an equivalent Hugging Face
 * {@code tokenizer.json} (byte-level BPE without merges) so that a checkpoint directory is
 * self-contained and loads in DJL or {@code transformers}.
 */
public final class ByteTokenizer implements Tokenizer {

  /** The special tokens, in id order. Do not reorder: checkpoints depend on these ids. */
  public static final List<String> SPECIALS =
      List.of(
          "<pad>",
          "<bos>",
          "<eos>",
          "<unk>",
          "<start_of_turn>",
          "<end_of_turn>",
          "<|im_start|>",
          "<|im_end|>",
          "<|begin_of_text|>",
          "<|start_header_id|>",
          "<|end_header_id|>",
          "<|eot_id|>",
          "<|user|>",
          "<|assistant|>",
          "<|end|>",
          "<|system|>");

  /**
   * Key in {@code tokenizer_config.json} by which {@link Tokenizers#load} recognises this
   * tokenizer.
   */
  static final String CONFIG_MARKER = "distill_tokenizer";

  private static final int BYTE_OFFSET = SPECIALS.size();
  private static final ByteTokenizer INSTANCE = new ByteTokenizer();

  private ByteTokenizer() {}

  /** The tokenizer (it has no state). */
  public static ByteTokenizer instance() {
    return INSTANCE;
  }

  /** The id of byte value {@code b} (0..255). */
  public static int byteId(int b) {
    return BYTE_OFFSET + (b & 0xff);
  }

  @Override
  public int[] encode(String text) {
    byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
    int[] out = new int[utf8.length];
    int n = 0;
    int i = 0;
    while (i < utf8.length) {
      int special = utf8[i] == '<' ? matchSpecial(utf8, i) : -1;
      if (special >= 0) {
        out[n++] = special;
        i += SPECIALS.get(special).length();
      } else {
        out[n++] = byteId(utf8[i]);
        i++;
      }
    }
    return n == out.length ? out : java.util.Arrays.copyOf(out, n);
  }

  /** The longest special token (all ASCII) that starts at {@code pos}, or -1. */
  private static int matchSpecial(byte[] utf8, int pos) {
    int best = -1;
    int bestLen = 0;
    for (int s = 0; s < SPECIALS.size(); s++) {
      String sp = SPECIALS.get(s);
      int len = sp.length();
      if (len <= bestLen || pos + len > utf8.length) {
        continue;
      }
      boolean match = true;
      for (int k = 0; k < len && match; k++) {
        match = utf8[pos + k] == sp.charAt(k);
      }
      if (match) {
        best = s;
        bestLen = len;
      }
    }
    return best;
  }

  @Override
  public String decode(int[] ids) {
    return decode(ids, false);
  }

  @Override
  public String decode(int[] ids, boolean skipSpecial) {
    StringBuilder sb = new StringBuilder(ids.length);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    for (int id : ids) {
      if (id < 0 || id >= vocabSize()) {
        throw new IllegalArgumentException(
            "token id "
                + id
                + " is outside the byte tokenizer's vocabulary [0, "
                + vocabSize()
                + ")");
      }
      if (id < BYTE_OFFSET) {
        flush(bytes, sb);
        if (!skipSpecial) {
          sb.append(SPECIALS.get(id));
        }
      } else {
        bytes.write(id - BYTE_OFFSET);
      }
    }
    flush(bytes, sb);
    return sb.toString();
  }

  /** Appends pending bytes as UTF-8; malformed sequences become U+FFFD (never an exception). */
  private static void flush(ByteArrayOutputStream bytes, StringBuilder sb) {
    if (bytes.size() > 0) {
      sb.append(new String(bytes.toByteArray(), StandardCharsets.UTF_8));
      bytes.reset();
    }
  }

  @Override
  public int vocabSize() {
    return BYTE_OFFSET + 256;
  }

  @Override
  public int bosId() {
    return 1;
  }

  @Override
  public int eosId() {
    return 2;
  }

  @Override
  public int padId() {
    return 0;
  }

  @Override
  public String bosToken() {
    return "<bos>";
  }

  @Override
  public String eosToken() {
    return "<eos>";
  }

  @Override
  public String padToken() {
    return SPECIALS.get(padId());
  }

  @Override
  public OptionalInt specialId(String token) {
    int i = SPECIALS.indexOf(token);
    return i < 0 ? OptionalInt.empty() : OptionalInt.of(i);
  }

  /**
   * Writes {@code tokenizer.json} (byte-level BPE with an empty merge list, the specials as added
   * tokens) and {@code tokenizer_config.json} (bos/eos/pad/unk names) into {@code dir}.
   */
  public void writeTo(Path dir) {
    try {
      Files.createDirectories(dir);
      JsonMapper mapper = JsonMapper.builder().build();
      mapper
          .writerWithDefaultPrettyPrinter()
          .writeValue(dir.resolve("tokenizer.json").toFile(), tokenizerJson());
      Map<String, Object> config = new LinkedHashMap<>();
      config.put("tokenizer_class", "PreTrainedTokenizerFast");
      config.put("bos_token", bosToken());
      config.put("eos_token", eosToken());
      config.put("pad_token", padToken());
      config.put("unk_token", "<unk>");
      config.put("add_bos_token", false);
      config.put("add_eos_token", false);
      config.put("clean_up_tokenization_spaces", false);
      config.put("model_max_length", 1_000_000_000);
      config.put(CONFIG_MARKER, "byte");
      mapper
          .writerWithDefaultPrettyPrinter()
          .writeValue(dir.resolve("tokenizer_config.json").toFile(), config);
    } catch (tools.jackson.core.JacksonException e) {
      throw new UncheckedIOException(
          new IOException("cannot write the byte tokenizer to " + dir + ": " + e.getMessage(), e));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the byte tokenizer to " + dir, e);
    }
  }

  private Map<String, Object> tokenizerJson() {
    List<Object> added = new ArrayList<>();
    Map<String, Integer> vocab = new LinkedHashMap<>();
    for (int i = 0; i < SPECIALS.size(); i++) {
      Map<String, Object> t = new LinkedHashMap<>();
      t.put("id", i);
      t.put("content", SPECIALS.get(i));
      t.put("single_word", false);
      t.put("lstrip", false);
      t.put("rstrip", false);
      t.put("normalized", false);
      t.put("special", true);
      added.add(t);
      vocab.put(SPECIALS.get(i), i);
    }
    String[] byteChars = gpt2ByteChars();
    for (int b = 0; b < 256; b++) {
      vocab.put(byteChars[b], byteId(b));
    }
    Map<String, Object> byteLevel = new LinkedHashMap<>();
    byteLevel.put("type", "ByteLevel");
    byteLevel.put("add_prefix_space", false);
    byteLevel.put("trim_offsets", false);
    byteLevel.put("use_regex", false);
    Map<String, Object> model = new LinkedHashMap<>();
    model.put("type", "BPE");
    model.put("dropout", null);
    model.put("unk_token", null);
    model.put("continuing_subword_prefix", null);
    model.put("end_of_word_suffix", null);
    model.put("fuse_unk", false);
    model.put("byte_fallback", false);
    model.put("ignore_merges", false);
    model.put("vocab", vocab);
    model.put("merges", List.of());
    Map<String, Object> json = new LinkedHashMap<>();
    json.put("version", "1.0");
    json.put("truncation", null);
    json.put("padding", null);
    json.put("added_tokens", added);
    json.put("normalizer", null);
    json.put("pre_tokenizer", byteLevel);
    json.put("post_processor", null);
    json.put("decoder", byteLevel);
    json.put("model", model);
    return json;
  }

  /**
   * GPT-2's {@code bytes_to_unicode}: the printable character that byte-level BPE uses for each
   * byte (openai/gpt-2 {@code src/encoder.py}).
   */
  static String[] gpt2ByteChars() {
    String[] out = new String[256];
    boolean[] direct = new boolean[256];
    for (int b = 0; b < 256; b++) {
      direct[b] = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    }
    int n = 0;
    for (int b = 0; b < 256; b++) {
      out[b] = direct[b] ? String.valueOf((char) b) : String.valueOf((char) (256 + n++));
    }
    return out;
  }
}
