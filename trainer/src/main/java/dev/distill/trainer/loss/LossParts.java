package dev.distill.trainer.loss;

import ai.djl.ndarray.NDArray;

/**
 * The loss of one (micro-)batch, each a scalar normalised by the caller's token count.
 *
 * @param total () kdRatio * kd + (1 - kdRatio) * ce; differentiable from {@link KdLoss#reference},
 *     detached from the chunked methods (whose gradients are already accumulated)
 * @param kd () T^2 * mean divergence over unmasked tokens (0 when kdRatio is 0)
 * @param ce () mean cross-entropy of the student on the labels over unmasked tokens
 * @param tokens unmasked tokens in this call (the normaliser may be larger under accumulation)
 */
public record LossParts(NDArray total, NDArray kd, NDArray ce, long tokens) {}
