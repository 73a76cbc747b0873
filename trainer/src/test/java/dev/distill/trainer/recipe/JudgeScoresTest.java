package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.spec.JudgeSpec;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.data.EvalRecord;
import dev.distill.trainer.data.Example;
import org.junit.jupiter.api.Test;

class JudgeScoresTest {

  @Test
  void anAnswerMustBeAnIntegerInRange() {
    assertThat(JudgeScores.parse("85", 0, 100).score()).isEqualTo(85);
    assertThat(JudgeScores.parse(" 85.\n", 0, 100).score()).isEqualTo(85);
    assertThat(JudgeScores.parse("`100`", 0, 100).score()).isEqualTo(100);
    assertThat(JudgeScores.parse("0", 0, 100).score()).isZero();
    assertThat(JudgeScores.parse("101", 0, 100).problem()).isEqualTo("out of range 0..100");
    assertThat(JudgeScores.parse("-1", 0, 100).problem()).isEqualTo("out of range 0..100");
    assertThat(JudgeScores.parse("85/100", 0, 100).problem()).isEqualTo("not an integer");
    assertThat(JudgeScores.parse("The score is 85", 0, 100).problem()).isEqualTo("not an integer");
    assertThat(JudgeScores.parse("", 0, 100).problem()).isEqualTo("not an integer");
    assertThat(JudgeScores.parse("99999999999999", 0, 100).problem()).isEqualTo("not an integer");
    assertThat(JudgeScores.parse(null, 0, 100).problem()).isEqualTo("no answer");
  }

  @Test
  void theHistogramHasTenBarsOverTheRange() {
    JudgeScores s =
        new JudgeScores(
            new JudgeSpec(ModelRef.of("builtin:gemma2-tiny"), null, null, null, null, null, null));
    for (int v : new int[] {0, 10, 11, 55, 100, 100}) {
      s.add(v);
    }
    s.add(null);
    assertThat(s.binLabels()).startsWith("0-10", "11-20").endsWith("91-100");
    assertThat(s.histogram()).containsExactly(2, 1, 0, 0, 0, 1, 0, 0, 0, 2);
    assertThat(s.metrics())
        .containsEntry("judge_scored", 6.0)
        .containsEntry("judge_unscored", 1.0)
        .containsEntry("judge_hist_91_100", 2.0);
  }

  @Test
  void theDefaultPromptIsChapter7sAndPlaceholdersAreFilledOnce() {
    EvalRecord r =
        new EvalRecord(0, Example.Chat.alpaca("Rewrite it.", "The sky", "It is blue."), null);
    assertThat(ExampleResults.scoringPrompt(JudgeSpec.DEFAULT_PROMPT, r, "says {reference}"))
        .isEqualTo(
            "Given the input `Below is an instruction that describes a task. Write a response that"
                + " appropriately completes the request.\n\n### Instruction:\nRewrite it.\n\n"
                + "### Input:\nThe sky` and correct output `It is blue.`, score the model response"
                + " `says {reference}` on a scale from 0 to 100, where 100 is the best score."
                + " Respond with the integer number only.");
  }
}
