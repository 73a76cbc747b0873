package dev.distill.spec;

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
    @JsonProperty("loss_chunk_size") Integer lossChunkSize) {

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
    gradClip = gradClip == null ? 1.0 : gradClip;
    temperature = temperature == null ? 1.0 : temperature;
    kdRatio = kdRatio == null ? 1.0 : kdRatio;
    kdLoss = kdLoss == null ? "forward_kl" : kdLoss.toLowerCase(Locale.ROOT);
    jsdBeta = jsdBeta == null ? 0.5 : jsdBeta;
    seed = seed == null ? 1234L : seed;
    checkpointEvery = checkpointEvery == null ? 100 : checkpointEvery;
    keepCheckpoints = keepCheckpoints == null ? 3 : keepCheckpoints;
    evalEvery = evalEvery == null ? 0 : evalEvery;
  }

  /** All defaults. */
  public static Hyperparameters defaults() {
    return new Hyperparameters(
        null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
        null, null, null, null);
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
  }
}
