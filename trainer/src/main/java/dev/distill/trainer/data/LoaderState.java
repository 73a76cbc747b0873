package dev.distill.trainer.data;

/**
 * The position of a {@link BatchIterator}: saved in a checkpoint, restored for an exact resume.
 *
 * @param epoch completed passes over the data
 * @param index rows of the current epoch's order already handed out
 */
public record LoaderState(long epoch, int index) {
  public LoaderState {
    if (epoch < 0 || index < 0) {
      throw new IllegalArgumentException(
          "loader state must be non-negative, was " + epoch + "/" + index);
    }
  }
}
