package dev.distill.trainer.recipe;

import dev.distill.spec.JudgeSpec;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reading a judge's answer, and what the scores of a run add up to. The answer must be an integer
 * and nothing else, as the chapter 7 prompt asks ("Respond with the integer number only");
 * surrounding white space, a final period and backticks or quotes around it are tolerated. Anything
 * else, and a number outside {@code [min_score, max_score]}, is unscored with the reason.
 */
final class JudgeScores {

  private static final Pattern INTEGER = Pattern.compile("[+-]?\\d{1,9}");

  /** The histogram's bars. */
  static final int BINS = 10;

  /**
   * A parsed answer.
   *
   * @param score the score, or null when unscored
   * @param problem why it is unscored, or null
   */
  record Parsed(Integer score, String problem) {}

  private final int min;
  private final int max;
  private final List<Integer> scores = new ArrayList<>();
  private int unscored;

  JudgeScores(JudgeSpec judge) {
    this.min = judge.minScore();
    this.max = judge.maxScore();
  }

  static Parsed parse(String raw, int min, int max) {
    if (raw == null) {
      return new Parsed(null, "no answer");
    }
    String t = raw.strip();
    if (t.endsWith(".")) {
      t = t.substring(0, t.length() - 1).strip();
    }
    if (t.length() >= 2
        && (t.charAt(0) == '`' || t.charAt(0) == '"' || t.charAt(0) == '\'')
        && t.charAt(t.length() - 1) == t.charAt(0)) {
      t = t.substring(1, t.length() - 1).strip();
    }
    Matcher m = INTEGER.matcher(t);
    if (!m.matches()) {
      return new Parsed(null, "not an integer");
    }
    int v = Integer.parseInt(t.startsWith("+") ? t.substring(1) : t);
    if (v < min || v > max) {
      return new Parsed(null, "out of range " + min + ".." + max);
    }
    return new Parsed(v, null);
  }

  void add(Integer score) {
    if (score == null) {
      unscored++;
    } else {
      scores.add(score);
    }
  }

  int scored() {
    return scores.size();
  }

  int unscored() {
    return unscored;
  }

  double mean() {
    return scores.stream().mapToInt(Integer::intValue).average().orElse(Double.NaN);
  }

  /** Counts per bar: {@link #BINS} equal bars over {@code [min, max]}, the last one closed. */
  long[] histogram() {
    long[] counts = new long[BINS];
    double width = Math.max(1e-9, (double) (max - min + 1) / BINS);
    for (int s : scores) {
      counts[Math.min(BINS - 1, (int) ((s - min) / width))]++;
    }
    return counts;
  }

  /** {@code 0-9}, ..., {@code 90-100}: the scores each bar holds. */
  List<String> binLabels() {
    List<String> out = new ArrayList<>();
    double width = (double) (max - min + 1) / BINS;
    for (int k = 0; k < BINS; k++) {
      int lo = (int) Math.ceil(min + k * width);
      int hi = k == BINS - 1 ? max : (int) Math.ceil(min + (k + 1) * width) - 1;
      out.add(lo + "-" + hi);
    }
    return out;
  }

  /**
   * {@code judge_mean}, {@code judge_scored}, {@code judge_unscored} and one {@code
   * judge_hist_<lo>_<hi>} per bar.
   */
  Map<String, Double> metrics() {
    Map<String, Double> m = new LinkedHashMap<>();
    m.put("judge_mean", mean());
    m.put("judge_scored", (double) scored());
    m.put("judge_unscored", (double) unscored);
    long[] h = histogram();
    List<String> labels = binLabels();
    for (int k = 0; k < BINS; k++) {
      m.put("judge_hist_" + labels.get(k).replace('-', '_'), (double) h[k]);
    }
    return m;
  }
}
