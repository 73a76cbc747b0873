package dev.distill.trainer.data.procedural;

import dev.distill.trainer.data.Example;
import java.util.List;

/**
 * One generated task.
 *
 * @param task the task kind, such as {@code add} or {@code fruit}
 * @param prompt the user message
 * @param answer the answer trained on
 * @param unique whether {@code answer} is the only correct answer (exact-match scoring applies)
 * @param validAnswers every acceptable answer ({@code [answer]} when unique)
 */
public record ProceduralExample(
    String task, String prompt, String answer, boolean unique, List<String> validAnswers) {

  public ProceduralExample {
    validAnswers = List.copyOf(validAnswers);
    if (!validAnswers.contains(answer)) {
      throw new IllegalArgumentException("answer '" + answer + "' is not among the valid answers");
    }
    if (unique && validAnswers.size() != 1) {
      throw new IllegalArgumentException("a unique task has exactly one valid answer");
    }
  }

  /** As a single-turn chat example. */
  public Example.Chat toExample() {
    return Example.Chat.of(prompt, answer);
  }

  /** Whether a generated answer is correct: equal to the answer, or one of the valid ones. */
  public boolean accepts(String generated) {
    return validAnswers.contains(generated.strip());
  }
}
