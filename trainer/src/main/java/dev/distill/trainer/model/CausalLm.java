package dev.distill.trainer.model;

import ai.djl.ndarray.NDArray;
import java.util.Map;

/**
 * A decoder-only language model as the trainer sees it. The output is split into {@link #hidden}
 * and {@link #logits} so that losses can compute logits a chunk of positions at a time: peak memory
 * O(chunk x vocab), not O(tokens x vocab) (Gemma's vocabulary is 256k).
 */
public interface CausalLm {

  /**
   * Runs the decoder stack.
   *
   * @param inputIds (B, T) int64 token ids, right-padded
   * @param attentionMask (B, T) 1 for real tokens, 0 for padding, or null when nothing is padded
   * @return (B, T, D) hidden states after the final norm; those of padded positions mean nothing
   *     (no loss reads them; Gemma 2's native CPU path leaves them zero, computing nothing there)
   */
  NDArray hidden(NDArray inputIds, NDArray attentionMask);

  /**
   * The language-model head (tied to the embedding for Gemma 2) with final-logit soft-capping.
   *
   * @param hidden (B, t, D) hidden states of any number t of positions
   * @return (B, t, V) fp32 logits
   */
  NDArray logits(NDArray hidden);

  /**
   * Both steps at once; for small vocabularies, generation and tests.
   *
   * @param inputIds (B, T) int64
   * @param attentionMask (B, T) or null
   * @return (B, T, V) logits
   */
  default NDArray forward(NDArray inputIds, NDArray attentionMask) {
    return logits(hidden(inputIds, attentionMask));
  }

  /** The size V of the output distribution. */
  int vocabSize();

  /**
   * The trainable tensors under their Hugging Face names, in a stable order. The arrays are the
   * live parameters: optimisers update them in place.
   */
  Map<String, NDArray> parameters();
}
