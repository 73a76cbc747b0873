package dev.distill.trainer.loss;

/**
 * Which vocabulary ids teacher and student distributions are compared on.
 *
 * <p>Equal sizes compare everything. Different sizes are an error unless the caller states the real
 * shared vocabulary (usually the tokenizer's size): models often pad their embedding to a multiple
 * of 64 or 128, so one output is a padded superset of the other. Then both logits are sliced to ids
 * [0, shared) and each side is renormalised there; nothing is ever zero-padded (a zero logit is not
 * a zero probability).
 *
 * @param teacherVocab V_t of the teacher's logits
 * @param studentVocab V_s of the student's logits
 * @param compared ids [0, compared) enter the divergence
 */
public record VocabAlignment(int teacherVocab, int studentVocab, int compared) {

  public VocabAlignment {
    if (teacherVocab < 1 || studentVocab < 1) {
      throw new IllegalArgumentException(
          "vocabulary sizes must be positive, were teacher "
              + teacherVocab
              + " and student "
              + studentVocab);
    }
    if (compared < 1 || compared > Math.min(teacherVocab, studentVocab)) {
      throw new IllegalArgumentException(
          "shared vocabulary size must be between 1 and min(teacher "
              + teacherVocab
              + ", student "
              + studentVocab
              + "), was "
              + compared);
    }
  }

  /**
   * Both models must have the same output size.
   *
   * @throws IllegalArgumentException naming both sizes when they differ
   */
  public static VocabAlignment exact(int teacherVocab, int studentVocab) {
    if (teacherVocab != studentVocab) {
      throw new IllegalArgumentException(
          "teacher vocabulary size "
              + teacherVocab
              + " differs from student vocabulary size "
              + studentVocab
              + "; if one is a padded superset of the other, state the shared vocabulary size"
              + " (the tokenizer's size)");
    }
    return new VocabAlignment(teacherVocab, studentVocab, teacherVocab);
  }

  /**
   * Compares ids [0, shared) only.
   *
   * @param shared the real vocabulary both models share, at most the smaller of the two sizes
   */
  public static VocabAlignment sharedPrefix(int teacherVocab, int studentVocab, int shared) {
    return new VocabAlignment(teacherVocab, studentVocab, shared);
  }

  /** {@link #exact} when {@code shared} is null, else {@link #sharedPrefix}. */
  public static VocabAlignment of(int teacherVocab, int studentVocab, Integer shared) {
    return shared == null
        ? exact(teacherVocab, studentVocab)
        : sharedPrefix(teacherVocab, studentVocab, shared);
  }

  /** True when the logits must be sliced before comparing. */
  boolean slices() {
    return compared != teacherVocab || compared != studentVocab;
  }
}
