package dev.distill.trainer.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SplitTest {

  private static List<Example> examples(int n) {
    List<Example> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(Example.Chat.of("question " + i, "answer " + i));
    }
    return out;
  }

  private static Set<String> validationKeys(List<Example> examples, Split split) {
    Set<String> keys = new HashSet<>();
    for (Example e : examples) {
      if (split.isValidation(e)) {
        keys.add(e.splitKey());
      }
    }
    return keys;
  }

  @Test
  void deterministicDisjointAndStableUnderReordering() {
    List<Example> data = examples(5000);
    Split split = new Split(0.1, 42);
    Set<String> first = validationKeys(data, split);
    assertThat(validationKeys(data, new Split(0.1, 42))).isEqualTo(first);
    List<Example> shuffled = new ArrayList<>(data);
    Collections.shuffle(shuffled, new Random(7));
    assertThat(validationKeys(shuffled, split)).isEqualTo(first);
    // about 10 %: binomial sd is about 21
    assertThat(first.size()).isBetween(400, 600);
    // train and validation are disjoint and cover everything
    long train = data.stream().filter(e -> !split.isValidation(e)).count();
    assertThat(train + first.size()).isEqualTo(5000);
    // another seed gives another split
    assertThat(validationKeys(data, new Split(0.1, 43))).isNotEqualTo(first);
  }

  @Test
  void duplicatesShareASideButAPromptWithSeveralAnswersSpreadsOverBoth() {
    Split split = new Split(0.5, 1);
    int apartCount = 0;
    for (int i = 0; i < 50; i++) {
      Example apple = Example.Chat.of("Name a fruit " + i, "apple");
      assertThat(split.isValidation(Example.Chat.of("Name a fruit " + i, "apple")))
          .isEqualTo(split.isValidation(apple));
      if (split.isValidation(apple)
          != split.isValidation(Example.Chat.of("Name a fruit " + i, "pear"))) {
        apartCount++;
      }
    }
    // the answer is part of the key: with fraction 0.5 about half the pairs are split up
    assertThat(apartCount).isBetween(10, 40);
  }

  @Test
  void zeroFractionHoldsNothingOutOneHoldsEverythingAndBadFractionsAreRejected() {
    assertThat(validationKeys(examples(1000), new Split(0.0, 3))).isEmpty();
    // 1: an evaluate job over the whole file
    assertThat(validationKeys(examples(1000), new Split(1.0, 3))).hasSize(1000);
    assertThatThrownBy(() -> new Split(1.01, 3)).hasMessageContaining("validation_fraction");
    assertThatThrownBy(() -> new Split(-0.1, 3)).hasMessageContaining("validation_fraction");
  }
}
