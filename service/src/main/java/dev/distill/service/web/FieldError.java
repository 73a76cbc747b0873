package dev.distill.service.web;

/**
 * One invalid field of a request, listed in a problem's {@code errors}.
 *
 * @param field JSON path, for example {@code hyperparameters.learning_rate}
 * @param message what is wrong
 */
public record FieldError(String field, String message) {}
