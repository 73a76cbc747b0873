package dev.distill.trainer.checkpoint;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.distill.trainer.data.MixState;
import java.util.Map;

/**
 * What a checkpoint records beside the weights, so that a resumed run continues exactly.
 *
 * @param formatVersion version of this file's layout
 * @param step optimiser steps done
 * @param epoch data epoch of the next batch
 * @param position index of the next batch within the epoch
 * @param seed the run's seed (data order and initialisation derive from it)
 * @param tokensSeen response tokens trained on so far
 * @param specHash SHA-256 of the canonical job spec; a resume with another spec is refused
 * @param metrics the last logged metrics (loss, kl, ce, lr, grad_norm, ...)
 * @param mix for a dataset mix: the schedule's position and every source's cursor ({@code epoch}
 *     and {@code position} are then 0); absent otherwise
 */
public record TrainerState(
    @JsonProperty("format_version") int formatVersion,
    @JsonProperty("step") long step,
    @JsonProperty("epoch") long epoch,
    @JsonProperty("position") long position,
    @JsonProperty("seed") long seed,
    @JsonProperty("tokens_seen") long tokensSeen,
    @JsonProperty("spec_hash") String specHash,
    @JsonProperty("metrics") Map<String, Double> metrics,
    @JsonProperty("mix") @JsonInclude(JsonInclude.Include.NON_NULL) MixState mix) {

  public static final int FORMAT_VERSION = 1;

  @JsonCreator
  public TrainerState {
    if (step < 0 || epoch < 0 || position < 0 || tokensSeen < 0) {
      throw new IllegalArgumentException(
          "trainer_state.json: step, epoch, position and tokens_seen must be >= 0, were "
              + step
              + ", "
              + epoch
              + ", "
              + position
              + ", "
              + tokensSeen);
    }
    metrics = metrics == null ? Map.of() : Map.copyOf(metrics);
  }

  /** The state of a run on a single data source. */
  public TrainerState(
      int formatVersion,
      long step,
      long epoch,
      long position,
      long seed,
      long tokensSeen,
      String specHash,
      Map<String, Double> metrics) {
    this(formatVersion, step, epoch, position, seed, tokensSeen, specHash, metrics, null);
  }
}
