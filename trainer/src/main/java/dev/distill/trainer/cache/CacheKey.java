package dev.distill.trainer.cache;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.SerializationFeature;
import tools.jackson.databind.json.JsonMapper;

/**
 * What determines a teacher cache's bytes: two passes with equal keys write the same cache, so the
 * second reuses the first's. A student is checked against {@link #tokenizer} and {@link #vocab}.
 *
 * @param teacher SHA-256 naming the teacher's weights: of its checkpoint manifest or weight files,
 *     or of preset, config and seed for a builtin teacher
 * @param tokenizer {@code byte}, or the SHA-256 of the {@code tokenizer.json} used
 * @param vocab V_c, the tokenizer's size: the ids the distributions are normalised over
 * @param template the prompt template
 * @param dataset SHA-256 of the dataset's content (the file's bytes, or the builtin generator's
 *     name and settings)
 * @param split what turns the content into training sequences: format, max_seq_len,
 *     validation_fraction, seed, mask_prompt, packing, num_examples
 * @param topK entries kept per position
 * @param massBound the smallest cumulative probability kept per position, or null (always topK)
 * @param encoding {@link LogProbEncoding#specName()}
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record CacheKey(
    @JsonProperty("teacher") String teacher,
    @JsonProperty("tokenizer") String tokenizer,
    @JsonProperty("vocab") int vocab,
    @JsonProperty("template") String template,
    @JsonProperty("dataset") String dataset,
    @JsonProperty("split") Map<String, Object> split,
    @JsonProperty("top_k") int topK,
    @JsonProperty("mass_bound") Double massBound,
    @JsonProperty("encoding") String encoding) {

  static final ObjectMapper CANONICAL =
      JsonMapper.builder().enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS).build();

  public CacheKey {
    split = split == null ? Map.of() : new TreeMap<>(split);
    if (topK < 1) {
      throw new IllegalArgumentException("top_k must be at least 1, was " + topK);
    }
    if (massBound != null && !(massBound > 0 && massBound <= 1)) {
      throw new IllegalArgumentException("mass_bound must be in (0, 1], was " + massBound);
    }
  }

  /** SHA-256 of the canonical JSON, 32 bytes. */
  public byte[] digest() {
    byte[] json = CANONICAL.writeValueAsString(this).getBytes(StandardCharsets.UTF_8);
    return sha256(json);
  }

  /** {@link #digest()} in hex: the cache's name. */
  public String hex() {
    return HexFormat.of().formatHex(digest());
  }

  static byte[] sha256(byte[] data) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(data);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** SHA-256 hex of some text: for the parts of a key that are names, not files. */
  public static String hashOf(String text) {
    return HexFormat.of().formatHex(sha256(text.getBytes(StandardCharsets.UTF_8)));
  }
}
