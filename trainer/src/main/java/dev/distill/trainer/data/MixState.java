package dev.distill.trainer.data;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/**
 * The position of a {@link MixBatchIterator}: saved in a checkpoint's trainer state, restored for
 * an exact resume.
 *
 * @param drawn sequences handed out so far (the schedule's next index)
 * @param cursors each source's cursor, in the mix's order
 */
public record MixState(
    @JsonProperty("drawn") long drawn, @JsonProperty("cursors") List<Cursor> cursors) {

  public MixState {
    if (drawn < 0 || cursors == null) {
      throw new IllegalArgumentException("mix state: drawn must be >= 0 and cursors present");
    }
    cursors = List.copyOf(cursors);
  }

  /**
   * One source's cursor.
   *
   * @param epoch completed passes over the source's rows
   * @param position rows of the current pass already handed out
   * @param tokens loss tokens of the source handed out so far
   */
  public record Cursor(
      @JsonProperty("epoch") long epoch,
      @JsonProperty("position") long position,
      @JsonProperty("tokens") long tokens) {
    public Cursor {
      if (epoch < 0 || position < 0 || tokens < 0) {
        throw new IllegalArgumentException(
            "mix cursor must be non-negative, was " + epoch + "/" + position + "/" + tokens);
      }
    }
  }
}
