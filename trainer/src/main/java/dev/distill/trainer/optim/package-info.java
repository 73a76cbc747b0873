/**
 * The optimiser: AdamW with decoupled weight decay (never on norms, embeddings or 1-D tensors), the
 * linear warm-up plus cosine learning-rate schedule as a pure function of the step, and global-norm
 * gradient clipping. Parameters are the live {@code Map<String, NDArray>} of a model, updated in
 * place; the state exports under stable names for exact resume. The training loop itself lives
 * elsewhere.
 */
package dev.distill.trainer.optim;
