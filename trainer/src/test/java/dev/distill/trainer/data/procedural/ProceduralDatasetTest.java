package dev.distill.trainer.data.procedural;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.trainer.data.PromptTemplate;
import dev.distill.trainer.data.SequenceBuilder;
import dev.distill.trainer.data.Split;
import dev.distill.trainer.tokenize.ByteTokenizer;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class ProceduralDatasetTest {

  @Test
  void deterministicPerSeed() {
    assertThat(ProceduralDataset.generate(500, 11)).isEqualTo(ProceduralDataset.generate(500, 11));
    assertThat(ProceduralDataset.generate(500, 11))
        .isNotEqualTo(ProceduralDataset.generate(500, 12));
    // a prefix of a longer run is the shorter run
    assertThat(ProceduralDataset.generate(800, 11).subList(0, 500))
        .isEqualTo(ProceduralDataset.generate(500, 11));
  }

  @Test
  void everyTaskOccursAndUniqueAnswersAreCorrect() {
    List<ProceduralExample> data = ProceduralDataset.generate(5000, 3);
    Set<String> tasks = new HashSet<>();
    int checked = 0;
    for (ProceduralExample e : data) {
      tasks.add(e.task());
      if (e.unique()) {
        assertThat(e.answer()).as(e.prompt()).isEqualTo(recompute(e.prompt()));
        assertThat(e.validAnswers()).containsExactly(e.answer());
        checked++;
      } else {
        assertThat(e.validAnswers()).hasSizeGreaterThan(1).contains(e.answer());
      }
    }
    assertThat(tasks).containsExactlyInAnyOrderElementsOf(ProceduralDataset.tasks());
    assertThat(checked).isGreaterThan(3000);
  }

  @Test
  void severalAnswerTasksFollowTheirDistribution() {
    Map<String, Integer> fruit = new HashMap<>();
    for (ProceduralExample e : ProceduralDataset.generate(20000, 5)) {
      if (e.task().equals("fruit")) {
        fruit.merge(e.answer(), 1, Integer::sum);
      }
    }
    // apple has weight 30 of 100, cherry 7 of 100
    int total = fruit.values().stream().mapToInt(Integer::intValue).sum();
    assertThat(fruit.get("apple") / (double) total).isBetween(0.25, 0.35);
    assertThat(fruit.get("cherry") / (double) total).isBetween(0.04, 0.10);
    assertThat(fruit.keySet())
        .containsExactlyInAnyOrder("apple", "banana", "orange", "grape", "pear", "mango", "cherry");
  }

  @Test
  void examplesAreShortWithTheGemmaTemplate() {
    SequenceBuilder b =
        new SequenceBuilder(ByteTokenizer.instance(), PromptTemplate.GEMMA, 512, true, false);
    int longest = 0;
    for (ProceduralExample e : ProceduralDataset.generate(5000, 9)) {
      longest = Math.max(longest, b.encode(e.toExample()).length());
    }
    assertThat(longest).isLessThan(100);
  }

  @Test
  void heldOutPromptsAreOnTheValidationSide() {
    Split split = new Split(0.1, 1234);
    List<ProceduralExample> held = ProceduralDataset.heldOut(200, 1234, split);
    assertThat(held).hasSize(200);
    assertThat(held).allMatch(e -> split.isValidation(e.toExample()));
    Set<String> trainPrompts = new HashSet<>();
    for (ProceduralExample e : ProceduralDataset.generate(4000, 1234)) {
      if (!split.isValidation(e.toExample())) {
        trainPrompts.add(e.prompt());
      }
    }
    assertThat(held)
        .filteredOn(ProceduralExample::unique)
        .isNotEmpty()
        .noneMatch(e -> trainPrompts.contains(e.prompt()));
    assertThat(held)
        .filteredOn(e -> !e.unique())
        .isNotEmpty()
        .allMatch(e -> trainPrompts.contains(e.prompt()));
    assertThat(held.get(0).accepts(" " + held.get(0).answer() + "\n")).isTrue();
  }

  private static final Pattern ARITH = Pattern.compile("What is (\\d+)([+*-])(\\d+)\\?");
  private static final Pattern CONVERT = Pattern.compile("Convert (\\d+) (\\w+) to (\\w+)\\.");

  /** An independent solver for the prompts. */
  static String recompute(String prompt) {
    Matcher m = ARITH.matcher(prompt);
    if (m.matches()) {
      int a = Integer.parseInt(m.group(1));
      int b = Integer.parseInt(m.group(3));
      return String.valueOf(
          switch (m.group(2)) {
            case "+" -> a + b;
            case "-" -> a - b;
            default -> a * b;
          });
    }
    m = CONVERT.matcher(prompt);
    if (m.matches()) {
      Map<String, Double> factor =
          Map.of(
              "cm", 0.01, "m", 1.0, "km", 1000.0, "g", 1.0, "kg", 1000.0, "seconds", 1.0, "minutes",
              60.0, "hours", 3600.0);
      double v = Integer.parseInt(m.group(1)) * factor.get(m.group(2)) / factor.get(m.group(3));
      long r = Math.round(v);
      assertThat(Math.abs(v - r)).isLessThan(1e-9);
      String unit = m.group(3);
      if (r == 1 && unit.endsWith("s")) {
        unit = unit.substring(0, unit.length() - 1);
      }
      return r + " " + unit;
    }
    String last = prompt.replaceAll("^.* ", "").replaceAll("[.?]$", "");
    if (prompt.startsWith("Reverse the word ")) {
      return new StringBuilder(last).reverse().toString();
    }
    if (prompt.startsWith("Sort the ")) {
      char[] c = last.toCharArray();
      Arrays.sort(c);
      return new String(c);
    }
    if (prompt.startsWith("How many letters in ")) {
      return String.valueOf(last.length());
    }
    if (prompt.startsWith("How many ")) {
      char c = prompt.charAt("How many ".length());
      return String.valueOf(last.chars().filter(x -> x == c).count());
    }
    if (prompt.startsWith("Count the words: ")) {
      return String.valueOf(prompt.substring("Count the words: ".length()).split(" ").length);
    }
    if (prompt.startsWith("Which is larger: ") || prompt.startsWith("Which is smaller: ")) {
      String[] nums = prompt.replaceAll("[^0-9 ]", "").trim().split(" +");
      int a = Integer.parseInt(nums[0]);
      int b = Integer.parseInt(nums[1]);
      return String.valueOf(prompt.contains("larger") ? Math.max(a, b) : Math.min(a, b));
    }
    if (prompt.startsWith("Which letter comes after ")) {
      return String.valueOf((char) (last.charAt(0) + 1));
    }
    if (prompt.startsWith("Which number comes after ")) {
      return String.valueOf(Integer.parseInt(last) + 1);
    }
    if (prompt.startsWith("Which number comes before ")) {
      return String.valueOf(Integer.parseInt(last) - 1);
    }
    if (prompt.startsWith("Uppercase ")) {
      return last.toUpperCase(Locale.ROOT);
    }
    if (prompt.startsWith("Lowercase ")) {
      return last.toLowerCase(Locale.ROOT);
    }
    if (prompt.startsWith("Is ")) {
      return Integer.parseInt(prompt.split(" ")[1]) % 2 == 0 ? "even" : "odd";
    }
    if (prompt.startsWith("First letter of ")) {
      return last.substring(0, 1);
    }
    if (prompt.startsWith("Last letter of ")) {
      return last.substring(last.length() - 1);
    }
    throw new AssertionError("no solver for: " + prompt);
  }
}
