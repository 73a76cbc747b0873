package dev.distill.trainer.optim;

import java.util.List;

/**
 * A NaN or infinite gradient that {@link AdamW#updateInBackward} found before it updated a group of
 * weights (pure bf16, the optimiser inside the backward pass): that group is left as it was, but
 * the groups handed over before it in the same update were already changed in place.
 */
public final class NonFiniteGradientException extends IllegalStateException {

  private final List<String> weights;
  private final double norm;
  private final long update;
  private final int groupsUpdated;

  NonFiniteGradientException(List<String> weights, double norm, long update, int groupsUpdated) {
    super(
        "gradient norm of "
            + weights
            + " is "
            + norm
            + " in update "
            + update
            + "; these weights were not updated"
            + (groupsUpdated == 0
                ? " (nor any other: no update was made)"
                : " (the " + groupsUpdated + " groups before them in this update were)"));
    this.weights = List.copyOf(weights);
    this.norm = norm;
    this.update = update;
    this.groupsUpdated = groupsUpdated;
  }

  /** The names of the group whose gradient is not finite. */
  public List<String> weights() {
    return weights;
  }

  /** Its gradient norm: NaN or infinite. */
  public double norm() {
    return norm;
  }

  /** The update (t, from 1) it happened in. */
  public long update() {
    return update;
  }

  /** Groups of this update already changed in place before this one (0: nothing changed). */
  public int groupsUpdated() {
    return groupsUpdated;
  }
}
