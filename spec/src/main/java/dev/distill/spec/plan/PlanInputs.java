package dev.distill.spec.plan;

import dev.distill.spec.LoraSpec;

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
 * @param lora {@code hyperparameters.lora}: the student's base is frozen and only its adapters
 *     train; null for a student whose every weight trains
 * @param cacheTopK for a distill job that trains from a teacher cache ({@code teacher_logits}): the
 *     cache's {@code top_k}, the entries stored per position; null for every other job
 */
public record PlanInputs(
    ModelShape student,
    ModelShape teacher,
    boolean training,
    Precision precision,
    int microBatch,
    int seqLen,
    boolean checkpointing,
    int lossChunk,
    LoraSpec lora,
    Integer cacheTopK) {

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
    if (lora != null && !training) {
      throw new IllegalArgumentException("LoRA adapters are planned for a trained student only");
    }
    if (cacheTopK != null && (cacheTopK < 1 || teacher != null || !training)) {
      throw new IllegalArgumentException(
          "a teacher cache is planned for a training without a teacher model, top_k at least 1,"
              + " was "
              + cacheTopK);
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

  /** Inputs without LoRA adapters or a teacher cache. */
  public PlanInputs(
      ModelShape student,
      ModelShape teacher,
      boolean training,
      Precision precision,
      int microBatch,
      int seqLen,
      boolean checkpointing,
      int lossChunk) {
    this(
        student,
        teacher,
        training,
        precision,
        microBatch,
        seqLen,
        checkpointing,
        lossChunk,
        null,
        null);
  }

  /** Values that train: the adapters' with LoRA, else every parameter of the student. */
  public long trainableParameters() {
    if (student == null || !training) {
      return 0;
    }
    return lora == null ? student.parameterCount() : student.loraParameterCount(lora);
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
