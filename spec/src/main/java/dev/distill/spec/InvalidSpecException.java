package dev.distill.spec;

import java.util.List;

/** Thrown by a spec record's constructor with every violation found, not just the first. */
public final class InvalidSpecException extends IllegalArgumentException {

  private final transient List<SpecViolation> violations;

  public InvalidSpecException(List<SpecViolation> violations) {
    super(
        "invalid spec: "
            + String.join("; ", violations.stream().map(SpecViolation::toString).toList()));
    this.violations = List.copyOf(violations);
  }

  public List<SpecViolation> violations() {
    return violations;
  }
}
