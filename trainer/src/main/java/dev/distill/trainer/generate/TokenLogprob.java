package dev.distill.trainer.generate;

import java.util.ArrayList;
import java.util.List;

/**
 * One generated token with its log-probability and the most likely alternatives at its position,
 * under the model's own distribution: {@code log_softmax} of the logits as computed, before
 * temperature and top-p (what OpenAI-compatible servers report as {@code logprobs}).
 *
 * @param id the token that was chosen
 * @param logprob its log-probability, at most 0
 * @param top the {@code k} most likely tokens, highest first (ties: lower id first); empty for k =
 *     0
 */
public record TokenLogprob(int id, double logprob, List<Alternative> top) {

  /**
   * A token that could have been chosen.
   *
   * @param id the token id
   * @param logprob its log-probability
   */
  public record Alternative(int id, double logprob) {}

  public TokenLogprob {
    top = List.copyOf(top);
  }

  /**
   * The log-probability of {@code chosen} and the top {@code k} of one position.
   *
   * @param logits (V) the logits of the position
   * @param chosen the id that was picked, in [0, V)
   * @param k how many alternatives, 0..V
   */
  public static TokenLogprob of(float[] logits, int chosen, int k) {
    if (chosen < 0 || chosen >= logits.length) {
      throw new IllegalArgumentException(
          "token id " + chosen + " is outside [0, " + logits.length + ")");
    }
    if (k < 0 || k > logits.length) {
      throw new IllegalArgumentException("k=" + k + " must be in [0, " + logits.length + "]");
    }
    double lse = logSumExp(logits);
    List<Alternative> top = new ArrayList<>(k);
    for (int id : k == 0 ? new int[0] : TopLogits.topK(logits, 0, logits.length, k)) {
      top.add(new Alternative(id, logits[id] - lse));
    }
    return new TokenLogprob(chosen, logits[chosen] - lse, top);
  }

  /** log(sum(exp(logits))), shifted by the maximum so that no exp overflows. */
  static double logSumExp(float[] logits) {
    double max = Double.NEGATIVE_INFINITY;
    for (float l : logits) {
      max = Math.max(max, l);
    }
    double sum = 0;
    for (float l : logits) {
      sum += Math.exp(l - max);
    }
    return max + Math.log(sum);
  }
}
