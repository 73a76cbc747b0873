package dev.distill.spec;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/**
 * Settings of a {@code teacher_pass} job: what the teacher-logit cache keeps per training position.
 *
 * @param topK token ids kept per position with their log-probabilities at temperature 1, 1..4096,
 *     default 64
 * @param massBound optional: a position keeps only its fewest top entries whose probability reaches
 *     this mass (at most {@code top_k}), in (0, 1]; the rest joins the stored tail mass
 * @param shards how many shards the pass is split into (units of retry and of progress), 1..4096,
 *     default 1
 * @param encoding how log-probabilities are stored: {@code q16} (2 bytes, error at most 2^-12 nats,
 *     the default) or {@code f32}
 */
public record TeacherPassSettings(
    @JsonProperty("top_k") Integer topK,
    @JsonProperty("mass_bound") Double massBound,
    @JsonProperty("shards") Integer shards,
    @JsonProperty("encoding") String encoding) {

  /** {@code teacher_pass.encoding}. */
  public static final List<String> ENCODINGS = List.of("q16", "f32");

  public TeacherPassSettings {
    topK = topK == null ? 64 : topK;
    shards = shards == null ? 1 : shards;
    encoding = encoding == null ? "q16" : encoding;
  }

  public static TeacherPassSettings defaults() {
    return new TeacherPassSettings(null, null, null, null);
  }

  void check(Violations v) {
    v.range("top_k", topK, 1, 4096);
    if (massBound != null) {
      v.positiveBelow("mass_bound", massBound, 1.0);
    }
    v.range("shards", shards, 1, 4096);
    if (!ENCODINGS.contains(encoding)) {
      v.add("encoding", Catalog.oneOf(ENCODINGS, encoding));
    }
  }
}
