package dev.distill.service.web;

import java.util.List;
import org.springframework.http.HttpStatus;

/**
 * An error the API reports on purpose. {@code type} is the last segment of the problem type URI
 * ({@link ProblemWriter#TYPE_BASE} + type); it is stable, clients may switch on it.
 */
public class ApiException extends RuntimeException {

  private final HttpStatus status;
  private final String type;
  private final String title;
  private final transient List<FieldError> errors;

  public ApiException(HttpStatus status, String type, String title, String detail) {
    this(status, type, title, detail, List.of());
  }

  public ApiException(
      HttpStatus status, String type, String title, String detail, List<FieldError> errors) {
    super(detail);
    this.status = status;
    this.type = type;
    this.title = title;
    this.errors = List.copyOf(errors);
  }

  public static ApiException notFound(String what) {
    return new ApiException(HttpStatus.NOT_FOUND, "not-found", "Not found", what + " not found");
  }

  public static ApiException invalid(String field, String message) {
    return invalid(List.of(new FieldError(field, message)));
  }

  public static ApiException invalid(List<FieldError> errors) {
    return new ApiException(
        HttpStatus.UNPROCESSABLE_CONTENT,
        "validation-error",
        "Invalid request",
        errors.size() == 1
            ? errors.get(0).field() + ": " + errors.get(0).message()
            : errors.size() + " fields are invalid",
        errors);
  }

  public static ApiException badParameter(String name, String message) {
    return new ApiException(
        HttpStatus.BAD_REQUEST,
        "invalid-parameter",
        "Invalid parameter",
        name + ": " + message,
        List.of(new FieldError(name, message)));
  }

  public HttpStatus status() {
    return status;
  }

  public String type() {
    return type;
  }

  public String title() {
    return title;
  }

  public List<FieldError> errors() {
    return errors;
  }
}
