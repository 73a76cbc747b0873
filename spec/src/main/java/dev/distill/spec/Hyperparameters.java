package dev.distill.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Locale;

/**
 * Optimisation and distillation settings. Every field has a default, so {@code {}} is valid.
 *
 * @param maxSteps optimiser steps
 * @param batchSize sequences per optimiser step
 * @param microBatchSize sequences per forward pass; {@code batchSize / microBatchSize}
 *     micro-batches are accumulated per step; default {@code batchSize}
 * @param learningRate peak learning rate of AdamW
 * @param minLrRatio cosine decay ends at {@code learningRate * minLrRatio}
 * @param warmupSteps linear warm-up steps before the cosine
 * @param weightDecay AdamW decoupled weight decay (never applied to norms and embeddings)
 * @param beta1 AdamW beta1
 * @param beta2 AdamW beta2
 * @param gradClip global-norm clipping threshold; 0 turns clipping off
 * @param temperature distillation temperature T; the KD term is scaled by T^2. Default 1 (see the
 *     demo report)
 * @param kdRatio loss = kdRatio * KD + (1 - kdRatio) * CE; ignored by finetune
 * @param kdLoss {@code forward_kl}, {@code reverse_kl} or {@code jsd}
 * @param jsdBeta beta of the generalised Jensen-Shannon divergence
 * @param seed seed of initialisation, data order and sampling
 * @param checkpointEvery steps between checkpoints (a final one is always written)
 * @param keepCheckpoints how many recent checkpoints are kept
 * @param evalEvery steps between validation passes; 0 means only at the end
 * @param lossChunkSize loss tokens (unmasked positions of a micro-batch) per chunk of the loss:
 *     peak memory of the logits is O(chunk x vocab); null (the default) sizes it from the
 *     vocabulary so that one chunk's logits hold about 2^24 values (64 MB in fp32): 65,536 tokens
 *     at vocab 256, 64 at Gemma's 256k
 * @param precision {@code fp32}, {@code bf16-mixed} or {@code bf16} ({@link Catalog#PRECISIONS});
 *     null (the default) lets the worker choose from its device: bf16-mixed on CUDA, fp32 on CPU
 * @param lora LoRA adapters for the student ({@link LoraSpec}): only they train, the base stays
 *     frozen; null (the default) trains every weight
 * @param activationCheckpointing whether each decoder layer of the student keeps only its input in
 *     the forward pass and recomputes the rest in the backward pass: activation memory O(layers x B
 *     x T x D + one layer) instead of O(layers x one layer), for about one more forward pass of
 *     compute; the same gradients. Default false
 */
public record Hyperparameters(
    @JsonProperty("max_steps") Integer maxSteps,
    @JsonProperty("batch_size") Integer batchSize,
    @JsonProperty("micro_batch_size") Integer microBatchSize,
    @JsonProperty("learning_rate") Double learningRate,
    @JsonProperty("min_lr_ratio") Double minLrRatio,
    @JsonProperty("warmup_steps") Integer warmupSteps,
    @JsonProperty("weight_decay") Double weightDecay,
    @JsonProperty("beta1") Double beta1,
    @JsonProperty("beta2") Double beta2,
    @JsonProperty("grad_clip") Double gradClip,
    @JsonProperty("temperature") Double temperature,
    @JsonProperty("kd_ratio") Double kdRatio,
    @JsonProperty("kd_loss") String kdLoss,
    @JsonProperty("jsd_beta") Double jsdBeta,
    @JsonProperty("seed") Long seed,
    @JsonProperty("checkpoint_every") Integer checkpointEvery,
    @JsonProperty("keep_checkpoints") Integer keepCheckpoints,
    @JsonProperty("eval_every") Integer evalEvery,
    @JsonProperty("loss_chunk_size") Integer lossChunkSize,
    // left out when unset, so that specs written before the field keep their spec hash (a
    // checkpoint of an older worker resumes after an upgrade)
    @JsonInclude(JsonInclude.Include.NON_NULL) @JsonProperty("precision") String precision,
    // absent when unset, so that a spec without it serialises (and hashes) as before
    @JsonProperty("lora") @JsonInclude(JsonInclude.Include.NON_NULL) LoraSpec lora,
    // left out when false, so that specs written before the field keep their spec hash
    @JsonInclude(JsonInclude.Include.NON_DEFAULT) @JsonProperty("activation_checkpointing")
        Boolean activationCheckpointing) {

  public Hyperparameters {
    maxSteps = maxSteps == null ? 200 : maxSteps;
    batchSize = batchSize == null ? 8 : batchSize;
    microBatchSize = microBatchSize == null ? batchSize : microBatchSize;
    learningRate = learningRate == null ? 1e-3 : learningRate;
    minLrRatio = minLrRatio == null ? 0.1 : minLrRatio;
    warmupSteps = warmupSteps == null ? Math.min(20, maxSteps / 10) : warmupSteps;
    weightDecay = weightDecay == null ? 0.01 : weightDecay;
    beta1 = beta1 == null ? 0.9 : beta1;
    beta2 = beta2 == null ? 0.95 : beta2;
    // pure bf16 updates each layer inside the backward pass: there is no global norm to clip by
    gradClip = gradClip == null ? ("bf16".equalsIgnoreCase(precision) ? 0.0 : 1.0) : gradClip;
    temperature = temperature == null ? 1.0 : temperature;
    kdRatio = kdRatio == null ? 1.0 : kdRatio;
    kdLoss = kdLoss == null ? "forward_kl" : kdLoss.toLowerCase(Locale.ROOT);
    jsdBeta = jsdBeta == null ? 0.5 : jsdBeta;
    seed = seed == null ? 1234L : seed;
    checkpointEvery = checkpointEvery == null ? 100 : checkpointEvery;
    keepCheckpoints = keepCheckpoints == null ? 3 : keepCheckpoints;
    evalEvery = evalEvery == null ? 0 : evalEvery;
    precision = precision == null ? null : precision.toLowerCase(Locale.ROOT);
    activationCheckpointing = activationCheckpointing != null && activationCheckpointing;
  }

  /** All defaults. */
  public static Hyperparameters defaults() {
    return builder().build();
  }

  /**
   * A builder for code and tests, every field unset (so defaulted) until named: {@code
   * Hyperparameters.builder().maxSteps(20).learningRate(5e-3).build()}.
   */
  public static Builder builder() {
    return new Builder();
  }

  /** Micro-batches accumulated per optimiser step. */
  public int accumulationSteps() {
    return batchSize / microBatchSize;
  }

  void check(Violations v) {
    v.range("max_steps", maxSteps, 1, 10_000_000);
    v.range("batch_size", batchSize, 1, 65_536);
    v.range("micro_batch_size", microBatchSize, 1, 65_536);
    if (batchSize != null
        && microBatchSize != null
        && microBatchSize > 0
        && batchSize % microBatchSize != 0) {
      v.add(
          "micro_batch_size", "must divide batch_size (" + batchSize + "), was " + microBatchSize);
    }
    v.positiveBelow("learning_rate", learningRate, 1.0);
    v.range("min_lr_ratio", minLrRatio, 0.0, 1.0);
    // bounded by max_steps only when that is valid itself (else one mistake gives two errors)
    v.range(
        "warmup_steps", warmupSteps, 0, maxSteps == null || maxSteps < 1 ? 10_000_000 : maxSteps);
    v.range("weight_decay", weightDecay, 0.0, 1.0);
    v.range("beta1", beta1, 0.0, 0.999999);
    v.range("beta2", beta2, 0.0, 0.999999);
    v.range("grad_clip", gradClip, 0.0, 1e6);
    v.positiveBelow("temperature", temperature, 100.0);
    v.range("kd_ratio", kdRatio, 0.0, 1.0);
    if (!Catalog.KD_LOSSES.contains(kdLoss)) {
      v.add("kd_loss", Catalog.oneOf(Catalog.KD_LOSSES, kdLoss));
    }
    v.range("jsd_beta", jsdBeta, 0.0, 1.0);
    v.range("seed", seed, 0, Long.MAX_VALUE);
    v.range("checkpoint_every", checkpointEvery, 1, 10_000_000);
    v.range("keep_checkpoints", keepCheckpoints, 1, 1000);
    v.range("eval_every", evalEvery, 0, 10_000_000);
    v.range("loss_chunk_size", lossChunkSize, 1, 1_048_576);
    if (precision != null && !Catalog.PRECISIONS.contains(precision)) {
      v.add("precision", Catalog.oneOf(Catalog.PRECISIONS, precision));
    }
    if ("bf16".equals(precision)) {
      checkPureBf16(v);
    }
    if (lora != null) {
      lora.check(v.at("lora"));
    }
  }

  /**
   * Pure bf16 updates each decoder layer's weights while the backward pass is still running (the
   * optimizer in backward, as torchtune's {@code optimizer_in_bwd}): a layer's gradients are gone
   * before the next layer's exist, so there is no global gradient norm to clip by and no gradient
   * to accumulate over micro-batches; and it trains every weight.
   */
  private void checkPureBf16(Violations v) {
    String why = "precision bf16 updates each layer during the backward pass (docs/gpu.md)";
    if (gradClip != null && gradClip > 0) {
      v.add(
          "grad_clip",
          "must be 0 with precision bf16: "
              + why
              + ", so there is no global gradient norm to clip by; was "
              + gradClip);
    }
    if (batchSize != null
        && microBatchSize != null
        && microBatchSize > 0
        && batchSize > microBatchSize) {
      v.add(
          "micro_batch_size",
          "must equal batch_size ("
              + batchSize
              + ") with precision bf16: "
              + why
              + ", so gradients cannot be accumulated over micro-batches; was "
              + microBatchSize);
    }
    if (lora != null) {
      v.add("lora", "must be unset with precision bf16, which trains every weight; use bf16-mixed");
    }
  }

  /** Builds {@link Hyperparameters} by name; a field left unset takes its default. */
  public static final class Builder {
    private Integer maxSteps;
    private Integer batchSize;
    private Integer microBatchSize;
    private Double learningRate;
    private Double minLrRatio;
    private Integer warmupSteps;
    private Double weightDecay;
    private Double beta1;
    private Double beta2;
    private Double gradClip;
    private Double temperature;
    private Double kdRatio;
    private String kdLoss;
    private Double jsdBeta;
    private Long seed;
    private Integer checkpointEvery;
    private Integer keepCheckpoints;
    private Integer evalEvery;
    private Integer lossChunkSize;
    private String precision;
    private LoraSpec lora;
    private Boolean activationCheckpointing;

    private Builder() {}

    public Builder maxSteps(int value) {
      maxSteps = value;
      return this;
    }

    public Builder batchSize(int value) {
      batchSize = value;
      return this;
    }

    public Builder microBatchSize(int value) {
      microBatchSize = value;
      return this;
    }

    public Builder learningRate(double value) {
      learningRate = value;
      return this;
    }

    public Builder minLrRatio(double value) {
      minLrRatio = value;
      return this;
    }

    public Builder warmupSteps(int value) {
      warmupSteps = value;
      return this;
    }

    public Builder weightDecay(double value) {
      weightDecay = value;
      return this;
    }

    public Builder beta1(double value) {
      beta1 = value;
      return this;
    }

    public Builder beta2(double value) {
      beta2 = value;
      return this;
    }

    public Builder gradClip(double value) {
      gradClip = value;
      return this;
    }

    public Builder temperature(double value) {
      temperature = value;
      return this;
    }

    public Builder kdRatio(double value) {
      kdRatio = value;
      return this;
    }

    public Builder kdLoss(String value) {
      kdLoss = value;
      return this;
    }

    public Builder jsdBeta(double value) {
      jsdBeta = value;
      return this;
    }

    public Builder seed(long value) {
      seed = value;
      return this;
    }

    public Builder checkpointEvery(int value) {
      checkpointEvery = value;
      return this;
    }

    public Builder keepCheckpoints(int value) {
      keepCheckpoints = value;
      return this;
    }

    public Builder evalEvery(int value) {
      evalEvery = value;
      return this;
    }

    public Builder lossChunkSize(Integer value) {
      lossChunkSize = value;
      return this;
    }

    public Builder precision(String value) {
      precision = value;
      return this;
    }

    public Builder lora(LoraSpec value) {
      lora = value;
      return this;
    }

    public Builder activationCheckpointing(boolean value) {
      activationCheckpointing = value;
      return this;
    }

    public Hyperparameters build() {
      return new Hyperparameters(
          maxSteps,
          batchSize,
          microBatchSize,
          learningRate,
          minLrRatio,
          warmupSteps,
          weightDecay,
          beta1,
          beta2,
          gradClip,
          temperature,
          kdRatio,
          kdLoss,
          jsdBeta,
          seed,
          checkpointEvery,
          keepCheckpoints,
          evalEvery,
          lossChunkSize,
          precision,
          lora,
          activationCheckpointing);
    }
  }
}
