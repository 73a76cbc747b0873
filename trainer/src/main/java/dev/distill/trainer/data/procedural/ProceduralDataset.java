package dev.distill.trainer.data.procedural;

import dev.distill.trainer.data.Example;
import dev.distill.trainer.data.Split;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Generates the procedural instruction tasks. The same {@code (n, seed)} always gives the same
 * examples (java.util.Random's sequence is fixed by its specification). Prompts stay under about 40
 * bytes and answers under about 12, so an example with the gemma template is under 100 bytes.
 *
 * <p>Unique-answer tasks: add, sub, mul, reverse, sort_letters, sort_digits, count_letters,
 * count_char, count_words, convert (cm/m, m/km, g/kg, minutes/hours, seconds/minutes), larger,
 * smaller, next_letter, next_number, prev_number, upper, lower, even_odd, first_letter,
 * last_letter. Several-answer tasks (answer drawn from a fixed, partly non-uniform distribution;
 * every listed answer is valid): fruit, digit, colour, greeting, animal.
 */
public final class ProceduralDataset {

  static final List<String> WORDS =
      List.of(
          "apple", "river", "stone", "cloud", "tiger", "house", "green", "bread", "light", "music",
          "table", "chair", "water", "plant", "smile", "dream", "train", "beach", "storm", "grape",
          "lemon", "horse", "mouse", "candy", "paper", "glass", "sugar", "night", "earth", "ocean",
          "cat", "dog", "sun", "sky", "red", "box", "cup", "pen", "map", "key", "bird", "fish",
          "tree", "moon", "star", "rain", "snow", "wind", "book", "door", "lamp", "milk", "rose",
          "frog", "king", "ship", "road", "gold", "salt", "wolf");

  private record Choice(String value, int weight) {}

  private record Multi(String task, List<String> prompts, List<Choice> choices) {
    List<String> values() {
      return choices.stream().map(Choice::value).toList();
    }
  }

  private static final List<Multi> MULTI =
      List.of(
          new Multi(
              "fruit",
              List.of("Name a fruit.", "Give me a fruit."),
              List.of(
                  new Choice("apple", 30),
                  new Choice("banana", 20),
                  new Choice("orange", 15),
                  new Choice("grape", 10),
                  new Choice("pear", 10),
                  new Choice("mango", 8),
                  new Choice("cherry", 7))),
          new Multi(
              "digit",
              List.of("Say a random digit.", "Pick a digit."),
              List.of(
                  new Choice("0", 1),
                  new Choice("1", 1),
                  new Choice("2", 1),
                  new Choice("3", 1),
                  new Choice("4", 1),
                  new Choice("5", 1),
                  new Choice("6", 1),
                  new Choice("7", 1),
                  new Choice("8", 1),
                  new Choice("9", 1))),
          new Multi(
              "colour",
              List.of("Name a colour.", "Give me a colour."),
              List.of(
                  new Choice("red", 25),
                  new Choice("blue", 25),
                  new Choice("green", 20),
                  new Choice("yellow", 15),
                  new Choice("purple", 8),
                  new Choice("black", 7))),
          new Multi(
              "greeting",
              List.of("Say a greeting.", "Greet me."),
              List.of(
                  new Choice("Hello!", 40),
                  new Choice("Hi!", 30),
                  new Choice("Hey!", 15),
                  new Choice("Good day!", 15))),
          new Multi(
              "animal",
              List.of("Name an animal.", "Give me an animal."),
              List.of(
                  new Choice("cat", 25),
                  new Choice("dog", 25),
                  new Choice("horse", 15),
                  new Choice("lion", 10),
                  new Choice("cow", 10),
                  new Choice("owl", 8),
                  new Choice("fox", 7))));

  static final List<String> UNIQUE_TASKS =
      List.of(
          "add",
          "sub",
          "mul",
          "reverse",
          "sort_letters",
          "sort_digits",
          "count_letters",
          "count_char",
          "count_words",
          "convert",
          "larger",
          "smaller",
          "next_letter",
          "next_number",
          "prev_number",
          "upper",
          "lower",
          "even_odd",
          "first_letter",
          "last_letter");

  /** Every task name: the unique-answer ones, then the several-answer ones. */
  public static List<String> tasks() {
    List<String> all = new ArrayList<>(UNIQUE_TASKS);
    MULTI.forEach(m -> all.add(m.task()));
    return all;
  }

  private ProceduralDataset() {}

  /** {@code n} examples from {@code seed}, tasks drawn uniformly. */
  public static List<ProceduralExample> generate(int n, long seed) {
    if (n < 0) {
      throw new IllegalArgumentException("num_examples must be >= 0, was " + n);
    }
    Random r = new Random(seed);
    List<ProceduralExample> out = new ArrayList<>(n);
    int kinds = UNIQUE_TASKS.size() + MULTI.size();
    for (int i = 0; i < n; i++) {
      int k = r.nextInt(kinds);
      out.add(
          k < UNIQUE_TASKS.size()
              ? unique(UNIQUE_TASKS.get(k), r)
              : multi(MULTI.get(k - UNIQUE_TASKS.size()), r));
    }
    return out;
  }

  /**
   * Which side of the split a generated example falls on. An example with a unique answer goes by
   * its content ({@link Split#isValidation(Example)}), so that no validation prompt is ever a
   * training prompt. An example with several valid answers goes by its position in the generated
   * stream: its few (prompt, answer) pairs each recur hundreds of times, and a split by content
   * would hold out whole pairs, so that validation would only ask for answers that training never
   * gave that prompt, a loss that rises the better a model learns the answer distribution. Split by
   * position, validation holds fresh draws from the same distribution, and the model that matches
   * it has the lowest loss. (Used for the training and validation sequences; {@link #heldOut} needs
   * only prompts and keeps the split by content.)
   *
   * @param index the example's position in its stream
   */
  public static boolean isValidation(Split split, ProceduralExample e, long index) {
    Example example = e.toExample();
    return e.unique()
        ? split.isValidation(example)
        : split.isValidation(example.splitKey() + "\u0000#" + index);
  }

  /**
   * Held-out prompts with reference answers for exact-match evaluation: examples generated from
   * {@code seed} that fall on the validation side of {@code split}. A model trained on the training
   * side of the same split has never seen the prompts with a unique answer; the several-answer
   * prompts are few and seen in training with other answers. Several-answer tasks are included
   * (scored by {@link ProceduralExample#accepts}); filter on {@link ProceduralExample#unique()} for
   * pure exact match.
   *
   * @throws IllegalArgumentException when the split holds nothing out
   */
  public static List<ProceduralExample> heldOut(int n, long seed, Split split) {
    if (split.fraction() <= 0) {
      throw new IllegalArgumentException("held-out prompts need validation_fraction > 0");
    }
    Random r = new Random(Split.mix(seed + 0x9E3779B97F4A7C15L)); // not the training stream
    List<ProceduralExample> out = new ArrayList<>(n);
    int kinds = UNIQUE_TASKS.size() + MULTI.size();
    for (long tries = 0; out.size() < n && tries < 1000L * n + 100_000; tries++) {
      int k = r.nextInt(kinds);
      ProceduralExample e =
          k < UNIQUE_TASKS.size()
              ? unique(UNIQUE_TASKS.get(k), r)
              : multi(MULTI.get(k - UNIQUE_TASKS.size()), r);
      if (split.isValidation(e.toExample())) { // by content: only the prompt matters here
        out.add(e);
      }
    }
    return out;
  }

  private static ProceduralExample multi(Multi m, Random r) {
    String prompt = m.prompts().get(r.nextInt(m.prompts().size()));
    int total = m.choices().stream().mapToInt(Choice::weight).sum();
    int x = r.nextInt(total);
    String answer = null;
    for (Choice c : m.choices()) {
      x -= c.weight();
      if (x < 0) {
        answer = c.value();
        break;
      }
    }
    return new ProceduralExample(m.task(), prompt, answer, false, m.values());
  }

  private static ProceduralExample unique(String task, Random r) {
    String word = WORDS.get(r.nextInt(WORDS.size()));
    return switch (task) {
      case "add" -> {
        int a = r.nextInt(100);
        int b = r.nextInt(100);
        yield exact(task, "What is " + a + "+" + b + "?", String.valueOf(a + b));
      }
      case "sub" -> {
        int a = r.nextInt(100);
        int b = r.nextInt(a + 1);
        yield exact(task, "What is " + a + "-" + b + "?", String.valueOf(a - b));
      }
      case "mul" -> {
        int a = 1 + r.nextInt(12);
        int b = 1 + r.nextInt(12);
        yield exact(task, "What is " + a + "*" + b + "?", String.valueOf(a * b));
      }
      case "reverse" ->
          exact(
              task, "Reverse the word " + word + ".", new StringBuilder(word).reverse().toString());
      case "sort_letters" -> {
        char[] c = word.toCharArray();
        Arrays.sort(c);
        yield exact(task, "Sort the letters of " + word + ".", new String(c));
      }
      case "sort_digits" -> {
        int len = 3 + r.nextInt(4);
        char[] d = new char[len];
        for (int i = 0; i < len; i++) {
          d[i] = (char) ('0' + r.nextInt(10));
        }
        String digits = new String(d);
        Arrays.sort(d);
        yield exact(task, "Sort the digits " + digits + ".", new String(d));
      }
      case "count_letters" ->
          exact(task, "How many letters in " + word + "?", String.valueOf(word.length()));
      case "count_char" -> {
        char c = word.charAt(r.nextInt(word.length()));
        long count = word.chars().filter(x -> x == c).count();
        yield exact(task, "How many " + c + " in " + word + "?", String.valueOf(count));
      }
      case "count_words" -> {
        int len = 1 + r.nextInt(5);
        List<String> ws = new ArrayList<>();
        for (int i = 0; i < len; i++) {
          ws.add(WORDS.get(r.nextInt(WORDS.size())));
        }
        yield exact(task, "Count the words: " + String.join(" ", ws), String.valueOf(len));
      }
      case "convert" -> convert(r);
      case "larger", "smaller" -> {
        int a = r.nextInt(100);
        int b = r.nextInt(99);
        if (b >= a) {
          b++; // a != b
        }
        boolean larger = task.equals("larger");
        int answer = larger ? Math.max(a, b) : Math.min(a, b);
        yield exact(task, "Which is " + task + ": " + a + " or " + b + "?", String.valueOf(answer));
      }
      case "next_letter" -> {
        char c = (char) ('a' + r.nextInt(25));
        yield exact(task, "Which letter comes after " + c + "?", String.valueOf((char) (c + 1)));
      }
      case "next_number" -> {
        int a = r.nextInt(1000);
        yield exact(task, "Which number comes after " + a + "?", String.valueOf(a + 1));
      }
      case "prev_number" -> {
        int a = 1 + r.nextInt(1000);
        yield exact(task, "Which number comes before " + a + "?", String.valueOf(a - 1));
      }
      case "upper" -> exact(task, "Uppercase " + word + ".", word.toUpperCase(Locale.ROOT));
      case "lower" -> {
        String up = word.toUpperCase(Locale.ROOT);
        yield exact(task, "Lowercase " + up + ".", word);
      }
      case "even_odd" -> {
        int a = r.nextInt(1000);
        yield exact(task, "Is " + a + " even or odd?", a % 2 == 0 ? "even" : "odd");
      }
      case "first_letter" ->
          exact(task, "First letter of " + word + "?", String.valueOf(word.charAt(0)));
      case "last_letter" ->
          exact(
              task, "Last letter of " + word + "?", String.valueOf(word.charAt(word.length() - 1)));
      default -> throw new IllegalStateException("unknown task " + task);
    };
  }

  private static ProceduralExample convert(Random r) {
    int k = 1 + r.nextInt(9);
    return switch (r.nextInt(10)) {
      case 0 -> exact("convert", "Convert " + k + " m to cm.", (k * 100) + " cm");
      case 1 -> exact("convert", "Convert " + (k * 100) + " cm to m.", k + " m");
      case 2 -> exact("convert", "Convert " + k + " km to m.", (k * 1000) + " m");
      case 3 -> exact("convert", "Convert " + (k * 1000) + " m to km.", k + " km");
      case 4 -> exact("convert", "Convert " + k + " kg to g.", (k * 1000) + " g");
      case 5 -> exact("convert", "Convert " + (k * 1000) + " g to kg.", k + " kg");
      case 6 -> exact("convert", "Convert " + k + " hours to minutes.", (k * 60) + " minutes");
      case 7 ->
          exact(
              "convert",
              "Convert " + (k * 60) + " minutes to hours.",
              k + (k == 1 ? " hour" : " hours"));
      case 8 -> exact("convert", "Convert " + k + " minutes to seconds.", (k * 60) + " seconds");
      default ->
          exact(
              "convert",
              "Convert " + (k * 60) + " seconds to minutes.",
              k + (k == 1 ? " minute" : " minutes"));
    };
  }

  private static ProceduralExample exact(String task, String prompt, String answer) {
    return new ProceduralExample(task, prompt, answer, true, List.of(answer));
  }
}
