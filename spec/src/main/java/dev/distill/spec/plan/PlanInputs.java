package dev.distill.spec.plan;

/**
 * What the memory plan of one job is computed from.
 *
 * @param student the model trained (or scored); null for synthesize
 * @param teacher the frozen model, or null
 * @param training whether the student is trained (distill, finetune): gradients, optimiser state
 *     and saved activations; false for evaluate and synthesize (forward passes only)
 * @param precision bytes per value ({@link Precision})
 * @param microBatch B, sequences per forward pass ({@code micro_batch_size})
 * @param seqLen T, tokens per sequence ({@code dataset.max_seq_len}: packed rows are that long,
 *     unpacked rows at most that long)
 * @param checkpointing {@code hyperparameters.activation_checkpointing}; always true when pure bf16
 *     trains
 * @param lossChunk loss tokens whose logits exist at once ({@link #lossChunk(Integer, int)})
 */
public record PlanInputs(
    ModelShape student,
    ModelShape teacher,
    boolean training,
    Precision precision,
    int microBatch,
    int seqLen,
    boolean checkpointing,
    int lossChunk) {

  /** Logit values one chunk holds when the spec leaves {@code loss_chunk_size} out: 2^24. */
  public static final long AUTO_CHUNK_LOGITS = 1L << 24;

  public PlanInputs {
    if (student == null && teacher == null) {
      throw new IllegalArgumentException("a plan needs a student or a teacher");
    }
    if (training && student == null) {
      throw new IllegalArgumentException("training needs a student");
    }
    if (precision == null) {
      throw new IllegalArgumentException("precision must not be null");
    }
    // pure bf16 always trains checkpointed: its update in backward needs each layer's recompute
    checkpointing = checkpointing || (training && precision.updatesInBackward());
    if (microBatch < 1 || seqLen < 1 || lossChunk < 1) {
      throw new IllegalArgumentException(
          "microBatch, seqLen and lossChunk must be at least 1, were "
              + microBatch
              + ", "
              + seqLen
              + ", "
              + lossChunk);
    }
  }

  /**
   * The loss chunk of a job, the one rule (the trainer's {@code KdLossConfig.chunkSize} is this):
   * {@code requested} when given, else as many tokens as keep one chunk's logits at {@link
   * #AUTO_CHUNK_LOGITS} values (at least 16).
   *
   * @param requested {@code loss_chunk_size}, or null
   * @param vocab the widest output of the models in the loss
   */
  public static int lossChunk(Integer requested, int vocab) {
    if (requested != null) {
      return requested;
    }
    return (int) Math.max(16, AUTO_CHUNK_LOGITS / Math.max(1, vocab));
  }
}
