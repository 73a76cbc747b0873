package dev.distill.spec.protocol;

import dev.distill.spec.InvalidSpecException;
import dev.distill.spec.SpecViolation;
import dev.distill.spec.StoredValues;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** Collects field violations of a protocol record and throws them all at once. */
final class Checks {

  private final List<SpecViolation> list = new ArrayList<>();

  void require(String field, Object value) {
    if (value == null) {
      list.add(new SpecViolation(field, "is required"));
    }
  }

  void check(boolean ok, String field, String message) {
    if (!ok) {
      list.add(new SpecViolation(field, message));
    }
  }

  void range(String field, Number value, long min, long max) {
    if (value != null && (value.longValue() < min || value.longValue() > max)) {
      list.add(
          new SpecViolation(field, "must be between " + min + " and " + max + ", was " + value));
    }
  }

  /** A required, non-blank text of at most {@code maxLength} characters. */
  void requiredText(String field, String value, int maxLength) {
    require(field, value);
    check(value == null || !value.isBlank(), field, "must not be blank");
    text(field, value, maxLength);
  }

  void text(String field, String value, int maxLength) {
    if (value != null && value.length() > maxLength) {
      list.add(new SpecViolation(field, "is longer than " + maxLength + " characters"));
    }
    storable(field, value);
  }

  /** A string, or the strings and keys of a map or list, PostgreSQL can store: no NUL. */
  void storable(String field, Object value) {
    if (StoredValues.hasNul(value)) {
      list.add(new SpecViolation(field, StoredValues.NUL_MESSAGE));
    }
  }

  /** A timestamp PostgreSQL can store (years 0001..9999), or null. */
  void timestamp(String field, Instant value) {
    if (!StoredValues.storable(value)) {
      list.add(new SpecViolation(field, StoredValues.INSTANT_MESSAGE));
    }
  }

  void throwIfAny() {
    if (!list.isEmpty()) {
      throw new InvalidSpecException(list);
    }
  }
}
