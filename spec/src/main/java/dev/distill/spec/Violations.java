package dev.distill.spec;

import java.util.ArrayList;
import java.util.List;

/** Collects violations under a path prefix; records call it from {@code violations(path)}. */
final class Violations {

  private final String prefix;
  private final List<SpecViolation> list;

  Violations(String prefix) {
    this(prefix, new ArrayList<>());
  }

  private Violations(String prefix, List<SpecViolation> list) {
    this.prefix = prefix;
    this.list = list;
  }

  /** A collector for a nested object that writes into the same list. */
  Violations at(String field) {
    return new Violations(path(field), list);
  }

  String path(String field) {
    return prefix.isEmpty() ? field : prefix + "." + field;
  }

  void add(String field, String message) {
    list.add(new SpecViolation(path(field), message));
  }

  void range(String field, Number value, double min, double max) {
    if (value == null) {
      return;
    }
    double v = value.doubleValue();
    if (Double.isNaN(v) || v < min || v > max) {
      add(field, "must be between " + fmt(min) + " and " + fmt(max) + ", was " + value);
    }
  }

  void positiveBelow(String field, Number value, double maxInclusive) {
    if (value == null) {
      return;
    }
    double v = value.doubleValue();
    if (Double.isNaN(v) || v <= 0 || v > maxInclusive) {
      add(field, "must be greater than 0 and at most " + fmt(maxInclusive) + ", was " + value);
    }
  }

  /** A string (or the strings and keys of a map) PostgreSQL can store: no NUL character. */
  void storable(String field, Object value) {
    if (StoredValues.hasNul(value)) {
      add(field, StoredValues.NUL_MESSAGE);
    }
  }

  void required(String field, Object value) {
    if (value == null) {
      add(field, "is required");
    }
  }

  List<SpecViolation> list() {
    return list;
  }

  void throwIfAny() {
    if (!list.isEmpty()) {
      throw new InvalidSpecException(list);
    }
  }

  private static String fmt(double d) {
    return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
  }
}
