package dev.distill.trainer.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distill.spec.DatasetSpec;
import dev.distill.trainer.tokenize.ByteTokenizer;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class DatasetsTest {

  private final ByteTokenizer tok = ByteTokenizer.instance();

  @Test
  void proceduralSpecGivesDisjointSplitsAndHeldOutPrompts() {
    DatasetSpec spec =
        new DatasetSpec("builtin:procedural", null, "gemma", 64, 0.1, true, false, 2000, 7L);
    DatasetSplits d = Datasets.open(spec, tok);
    assertThat(d.trainStats().examples() + d.validationStats().examples()).isEqualTo(2000);
    assertThat(d.validationStats().examples()).isBetween(120L, 300L);
    assertThat(d.trainStats().truncated()).isZero();
    assertThat(d.train()).hasSize((int) d.trainStats().examples());
    assertThat(d.heldOut()).hasSize((int) d.validationStats().examples());
    // the validation examples again, by kind of task: every one in exactly one group
    assertThat(d.validationGroups()).containsOnlyKeys(DatasetSplits.UNIQUE, DatasetSplits.SEVERAL);
    long unique = d.heldOut().stream().filter(EvalPrompt::unique).count();
    assertThat(d.validationGroups().get(DatasetSplits.UNIQUE)).hasSize((int) unique);
    assertThat(d.validationGroups().get(DatasetSplits.SEVERAL))
        .hasSize((int) (d.validationStats().examples() - unique));
    EvalPrompt p = d.heldOut().get(0);
    assertThat(p.prompt())
        .startsWith("<bos><start_of_turn>user\n")
        .endsWith("<start_of_turn>model\n");
    // no held-out prompt with a unique answer occurs as a training prompt; prompts with several
    // answers ("Name a fruit.") are on both sides
    Set<String> trainTexts = new HashSet<>();
    for (Sequence s : d.train()) {
      String text = tok.decode(s.ids());
      trainTexts.add(
          text.substring(
              0, text.indexOf("<start_of_turn>model\n") + "<start_of_turn>model\n".length()));
    }
    assertThat(d.heldOut())
        .filteredOn(EvalPrompt::unique)
        .isNotEmpty()
        .noneMatch(h -> trainTexts.contains(h.prompt()));
    assertThat(d.heldOut())
        .filteredOn(h -> !h.unique())
        .isNotEmpty()
        .allMatch(h -> trainTexts.contains(h.prompt()));
    // validation examples with several answers are fresh draws from the training distribution:
    // their (prompt, answer) pairs occur in training too (a split by content would hold out only
    // pairs training never shows)
    Set<String> trainExamples = new HashSet<>();
    for (Sequence s : d.train()) {
      trainExamples.add(tok.decode(s.ids()));
    }
    List<Sequence> several = d.validationGroups().get(DatasetSplits.SEVERAL);
    long seenInTraining =
        several.stream().filter(s -> trainExamples.contains(tok.decode(s.ids()))).count();
    assertThat(seenInTraining)
        .as("several-answer validation pairs also in training")
        .isGreaterThan(several.size() * 9L / 10);
    // the same spec opens to the same rows
    DatasetSplits again = Datasets.open(spec, tok);
    assertThat(again.train().get(5).ids()).containsExactly(d.train().get(5).ids());
    assertThat(again.validation()).hasSameSizeAs(d.validation());
  }

  @Test
  void alpacaFileWithPackingAndTruncationReport() {
    String uri = "file:" + SharedDatasets.file("alpaca-style-instructions-1100.json");
    DatasetSpec spec = new DatasetSpec(uri, "alpaca", "alpaca", 256, 0.05, true, true, null, 1L);
    DatasetSplits d = Datasets.open(spec, tok);
    assertThat(d.trainStats().examples() + d.validationStats().examples()).isEqualTo(1100);
    assertThat(d.trainStats().truncated()).isPositive(); // the Alpaca preamble alone is ~150 bytes
    assertThat(d.trainStats().sequences()).isLessThan(d.trainStats().examples());
    assertThat(d.train()).allMatch(s -> s.length() <= 256);
    assertThat(d.heldOut()).isNotEmpty();
    assertThat(d.heldOut().get(0).prompt())
        .startsWith("<bos>Below is an instruction")
        .endsWith("### Response:\n");
  }

  @Test
  void badUrisNameTheProblem() {
    assertThatThrownBy(
            () ->
                Datasets.open(
                    new DatasetSpec("builtin:nope", null, null, null, null, null, null, null, null),
                    tok))
        .hasMessageContaining("builtin:nope");
    assertThatThrownBy(
            () ->
                Datasets.open(
                    new DatasetSpec(
                        "file:/no/such.json", null, null, null, null, null, null, null, null),
                    tok))
        .hasMessageContaining("/no/such.json");
  }
}
