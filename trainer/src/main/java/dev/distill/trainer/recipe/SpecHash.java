package dev.distill.trainer.recipe;

import dev.distill.spec.JobSpec;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.SerializationFeature;
import tools.jackson.databind.json.JsonMapper;

/**
 * SHA-256 of what determines a run's numbers: type, models (or the teacher cache), data and
 * hyperparameters (not priority, attempts, metadata or requirements). A checkpoint records it and a
 * resume under another hash is refused.
 */
public final class SpecHash {

  private static final ObjectMapper CANONICAL =
      JsonMapper.builder().enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS).build();

  private SpecHash() {}

  public static String of(JobSpec spec) {
    Map<String, Object> parts = new LinkedHashMap<>();
    parts.put("type", spec.type());
    parts.put("teacher", spec.teacher());
    parts.put("student", spec.student());
    parts.put("dataset", spec.dataset());
    parts.put("hyperparameters", spec.hyperparameters());
    parts.put("generation", spec.generation());
    // only when set, so that the hashes of specs without a teacher cache stay what they were
    if (spec.teacherLogits() != null) {
      parts.put("teacher_logits", spec.teacherLogits());
    }
    if (spec.teacherPass() != null) {
      parts.put("teacher_pass", spec.teacherPass());
    }
    if (spec.checkpoints() != null) {
      parts.put("checkpoints", spec.checkpoints());
    }
    byte[] json = CANONICAL.writeValueAsString(parts).getBytes(StandardCharsets.UTF_8);
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(json));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
