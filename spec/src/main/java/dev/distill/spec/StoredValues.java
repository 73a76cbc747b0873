package dev.distill.spec;

import java.time.Instant;
import java.util.Collection;
import java.util.Map;

/**
 * What PostgreSQL can store, checked where records validate themselves: {@code text} and {@code
 * jsonb} hold no NUL character ({@code \u0000}), and {@code timestamptz} ends in the year 294276,
 * so timestamps are limited to years 0001..9999.
 */
public final class StoredValues {

  public static final Instant MIN_INSTANT = Instant.parse("0001-01-01T00:00:00Z");
  public static final Instant MAX_INSTANT = Instant.parse("9999-12-31T23:59:59.999999Z");
  public static final String NUL_MESSAGE = "must not contain NUL characters (\\u0000)";
  public static final String INSTANT_MESSAGE =
      "must be a timestamp between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z";

  private StoredValues() {}

  /** Whether a string, or any key or string inside a map or list, holds a NUL character. */
  public static boolean hasNul(Object value) {
    if (value instanceof String s) {
      return s.indexOf('\0') >= 0;
    }
    if (value instanceof Map<?, ?> m) {
      for (Map.Entry<?, ?> e : m.entrySet()) {
        if (hasNul(e.getKey()) || hasNul(e.getValue())) {
          return true;
        }
      }
      return false;
    }
    if (value instanceof Collection<?> c) {
      for (Object o : c) {
        if (hasNul(o)) {
          return true;
        }
      }
    }
    return false;
  }

  /** Null, or within {@link #MIN_INSTANT}..{@link #MAX_INSTANT}. */
  public static boolean storable(Instant t) {
    return t == null || (!t.isBefore(MIN_INSTANT) && !t.isAfter(MAX_INSTANT));
  }
}
