package dev.distill.trainer.data;

import java.util.List;

/**
 * A held-out prompt for exact-match evaluation of greedy generations.
 *
 * @param prompt the rendered generation prompt, starting with the BOS string where the template has
 *     one (encode it with {@code Tokenizer.encode(prompt)}: the BOS text becomes the BOS id)
 * @param references the acceptable answers (one when {@code unique})
 * @param unique whether the answer is unique (exact match is meaningful)
 * @param task the procedural task name, or {@code file} for examples from a data file
 */
public record EvalPrompt(String prompt, List<String> references, boolean unique, String task) {
  public EvalPrompt {
    references = List.copyOf(references);
  }

  /** Whether a generation (stop strings already removed) matches a reference after trimming. */
  public boolean matches(String generated) {
    return references.contains(generated.strip());
  }
}
