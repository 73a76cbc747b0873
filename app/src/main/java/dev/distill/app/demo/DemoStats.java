package dev.distill.app.demo;

/**
 * The demo report's statistics: the Wilson interval of one model's exact match, the paired interval
 * of two models' difference on the same prompts, and the mean and spread over seeds.
 */
public final class DemoStats {

  /** The normal quantile of a two-sided 95% interval. */
  public static final double Z95 = 1.959963984540054;

  private DemoStats() {}

  /** An estimate with its interval. */
  public record Interval(double estimate, double low, double high) {}

  /**
   * The Wilson score interval of a proportion {@code hits / n}: centre (p + z²/2n) / (1 + z²/n),
   * half-width z sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n). Unlike p ± z sqrt(p(1-p)/n) it stays inside
   * [0, 1] and keeps its coverage near 0 and 1.
   */
  public static Interval wilson(int hits, int n, double z) {
    if (n <= 0 || hits < 0 || hits > n) {
      throw new IllegalArgumentException("need 0 <= hits <= n and n > 0, were " + hits + ", " + n);
    }
    double p = (double) hits / n;
    double z2 = z * z;
    double denom = 1 + z2 / n;
    double centre = (p + z2 / (2.0 * n)) / denom;
    double half = z * Math.sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / denom;
    return new Interval(p, Math.max(0, centre - half), Math.min(1, centre + half));
  }

  /**
   * The difference of two models' exact match on the same prompts, a - b, with the Wald interval
   * for paired proportions (the one that goes with McNemar's test): only the discordant prompts
   * carry information. With {@code ab} prompts right for a and wrong for b and {@code ba} the
   * reverse, d = (ab - ba) / n and Var(d) = ((ab + ba) - (ab - ba)² / n) / n². Pairing removes the
   * prompt-to-prompt variation both models share (easy and hard prompts), which two unpaired
   * intervals would count twice.
   *
   * @param a per prompt whether model a was right
   * @param b per prompt whether model b was right, the same prompts in the same order
   */
  public static Interval pairedDifference(boolean[] a, boolean[] b, double z) {
    if (a.length != b.length || a.length == 0) {
      throw new IllegalArgumentException(
          "paired results need the same, non-zero number of prompts, were "
              + a.length
              + " and "
              + b.length);
    }
    int n = a.length;
    int ab = 0;
    int ba = 0;
    for (int i = 0; i < n; i++) {
      if (a[i] && !b[i]) {
        ab++;
      } else if (!a[i] && b[i]) {
        ba++;
      }
    }
    double d = (double) (ab - ba) / n;
    double var = ((ab + ba) - (double) (ab - ba) * (ab - ba) / n) / ((double) n * n);
    double half = z * Math.sqrt(Math.max(0, var));
    return new Interval(d, d - half, d + half);
  }

  /**
   * Mean and spread of one quantity over seeds.
   *
   * @param sd the sample standard deviation (n - 1 in the denominator); NaN for one value
   */
  public record Spread(int n, double mean, double sd, double min, double max) {}

  public static Spread spread(double[] xs) {
    if (xs.length == 0) {
      throw new IllegalArgumentException("no values");
    }
    double sum = 0;
    double min = Double.POSITIVE_INFINITY;
    double max = Double.NEGATIVE_INFINITY;
    for (double x : xs) {
      sum += x;
      min = Math.min(min, x);
      max = Math.max(max, x);
    }
    double mean = sum / xs.length;
    double ss = 0;
    for (double x : xs) {
      ss += (x - mean) * (x - mean);
    }
    double sd = xs.length < 2 ? Double.NaN : Math.sqrt(ss / (xs.length - 1));
    return new Spread(xs.length, mean, sd, min, max);
  }
}
