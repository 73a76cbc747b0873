/**
 * Distillation and language-model losses: forward KL, reverse KL and generalised Jensen-Shannon
 * between teacher and student, temperature with T^2 scaling, mixed with cross-entropy, masked to
 * response tokens and normalised by the token count of the whole accumulated batch. {@link
 * dev.distill.trainer.loss.KdLoss} computes logits a chunk of positions at a time; nothing here
 * owns a model, an optimiser or the training loop.
 */
package dev.distill.trainer.loss;
