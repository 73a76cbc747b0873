package dev.distill.app.control;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.DoubleSupplier;

/**
 * How long a caller of the service waits before it tries a refused or unanswered call again: an
 * exponential backoff with jitter (half to all of a base that doubles from {@code first} up to
 * {@code max} and starts again after {@link #reset}), and never less than a 429's or 503's {@code
 * Retry-After} asked (the service sends one when too many claims wait, when it shuts down and while
 * its database is down: 5 s), plus up to a tenth more so that a fleet of workers does not come back
 * in one instant, obeyed up to {@link #MAX_RETRY_AFTER}. The same rule as {@code
 * endpoint.OpenAiClient}'s toward outside endpoints. A caller whose wait has a deadline of its own
 * (a heartbeat must beat before its lease expires) caps the answer itself. One instance per retry
 * loop; not thread-safe.
 */
public final class Backoff {

  /** The longest a {@code Retry-After} is obeyed: a header of an hour is not a reason to sleep. */
  public static final Duration MAX_RETRY_AFTER = Duration.ofSeconds(60);

  private final Duration first;
  private final Duration max;
  private final DoubleSupplier random;
  private Duration base;

  /**
   * @param first the base of the first wait without {@code Retry-After}
   * @param max the largest base
   */
  public Backoff(Duration first, Duration max) {
    this(first, max, () -> ThreadLocalRandom.current().nextDouble());
  }

  /**
   * @param random uniform in [0, 1): the jitter (a test passes a fixed one)
   */
  public Backoff(Duration first, Duration max, DoubleSupplier random) {
    if (first.isNegative() || first.isZero() || max.compareTo(first) < 0) {
      throw new IllegalArgumentException(
          "backoff must have 0 < first <= max, was " + first + ", " + max);
    }
    this.first = first;
    this.max = max;
    this.random = random;
    this.base = first;
  }

  /** The wait before the next try after {@code failure}; the exponential base grows either way. */
  public Duration after(ApiException failure) {
    Duration jittered = scale(base, 0.5 + random.getAsDouble() / 2);
    base = base.multipliedBy(2).compareTo(max) > 0 ? max : base.multipliedBy(2);
    Duration asked =
        failure
            .retryAfter()
            .map(r -> min(scale(r, 1 + random.getAsDouble() / 10), MAX_RETRY_AFTER))
            .orElse(Duration.ZERO);
    return asked.compareTo(jittered) > 0 ? asked : jittered;
  }

  /** After a success: the next failure waits {@code first} again. */
  public void reset() {
    base = first;
  }

  /** The shorter of two waits. */
  public static Duration min(Duration a, Duration b) {
    return a.compareTo(b) <= 0 ? a : b;
  }

  private static Duration scale(Duration d, double factor) {
    return Duration.ofNanos((long) (d.toNanos() * factor));
  }
}
