package dev.distill.trainer.checkpoint;

import java.nio.file.Path;
import java.util.List;

/**
 * A checkpoint directory on disk whose manifest has been verified.
 *
 * @param dir the {@code step-NNNNNN} directory
 * @param step its optimiser step
 * @param state the trainer state read from it
 * @param sizeBytes total size of its files
 * @param sha256 SHA-256 of its manifest file, a digest of the whole checkpoint
 * @param deleted checkpoint directories of the same root that are gone since the previous save:
 *     pruned by {@code keep_checkpoints} when this one was written, or set aside as damaged on
 *     resume; empty for a checkpoint that was only read
 */
public record Checkpoint(
    Path dir, long step, TrainerState state, long sizeBytes, String sha256, List<Path> deleted) {

  public Checkpoint {
    deleted = deleted == null ? List.of() : List.copyOf(deleted);
  }
}
