/**
 * Training checkpoints: one directory {@code step-NNNNNN/} per checkpoint holding the Hugging Face
 * model files, the optimiser state, {@code trainer_state.json} and a SHA-256 {@code manifest.json}
 * that is verified on load. Writing is atomic (a temporary directory renamed into place) and only
 * the last N are kept. What the files contain is the caller's business: this package knows
 * directories, hashes and the trainer state.
 */
package dev.distill.trainer.checkpoint;
