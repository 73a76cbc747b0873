package dev.distill.spec;

/**
 * One problem with one field of a spec.
 *
 * @param field the JSON path of the field, for example {@code hyperparameters.learning_rate}
 * @param message what is wrong, naming the value where it helps
 */
public record SpecViolation(String field, String message) {

  @Override
  public String toString() {
    return field + ": " + message;
  }
}
