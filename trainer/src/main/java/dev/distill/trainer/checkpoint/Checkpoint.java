package dev.distill.trainer.checkpoint;

import java.nio.file.Path;

/**
 * A checkpoint directory on disk whose manifest has been verified.
 *
 * @param dir the {@code step-NNNNNN} directory
 * @param step its optimiser step
 * @param state the trainer state read from it
 * @param sizeBytes total size of its files
 * @param sha256 SHA-256 of its manifest file, a digest of the whole checkpoint
 */
public record Checkpoint(Path dir, long step, TrainerState state, long sizeBytes, String sha256) {}
