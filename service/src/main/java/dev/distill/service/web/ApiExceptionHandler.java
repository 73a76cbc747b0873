package dev.distill.service.web;

import dev.distill.spec.InvalidSpecException;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.MediaType;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.http.converter.HttpMessageNotReadableException;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.context.request.WebRequest;
import org.springframework.web.method.annotation.MethodArgumentTypeMismatchException;
import org.springframework.web.servlet.mvc.method.annotation.ResponseEntityExceptionHandler;
import tools.jackson.core.JacksonException;
import tools.jackson.core.exc.InputCoercionException;
import tools.jackson.core.exc.StreamReadException;
import tools.jackson.databind.DatabindException;
import tools.jackson.databind.exc.MismatchedInputException;
import tools.jackson.databind.exc.PropertyBindingException;
import tools.jackson.databind.exc.ValueInstantiationException;

/**
 * The one place errors become RFC 9457 problems. Bodies never carry stack traces, exception class
 * names or Jackson's messages (which name Java types); field problems are listed under {@code
 * errors} with their JSON path.
 */
@RestControllerAdvice
public class ApiExceptionHandler extends ResponseEntityExceptionHandler {

  private static final Logger log = LoggerFactory.getLogger(ApiExceptionHandler.class);

  /** Fields of a job resource that only the server sets. */
  private static final Set<String> SERVER_OWNED =
      Set.of(
          "id",
          "project",
          "status",
          "attempts",
          "created_at",
          "updated_at",
          "started_at",
          "finished_at",
          "failure_reason",
          "retryable",
          "worker_id",
          "latest_metrics",
          "output_uri",
          "tasks");

  @ExceptionHandler(ApiException.class)
  ResponseEntity<Object> api(ApiException e) {
    return respond(
        ProblemWriter.problem(e.status(), e.type(), e.title(), e.getMessage(), e.errors()));
  }

  @ExceptionHandler(InvalidSpecException.class)
  ResponseEntity<Object> invalidSpec(InvalidSpecException e) {
    return respond(validation(violations("", e)));
  }

  @ExceptionHandler(MethodArgumentTypeMismatchException.class)
  ResponseEntity<Object> typeMismatch(MethodArgumentTypeMismatchException e) {
    ApiException a = ApiException.badParameter(e.getName(), "has an invalid value");
    return api(a);
  }

  @ExceptionHandler(Exception.class)
  ResponseEntity<Object> unexpected(Exception e) {
    log.error("unexpected error", e);
    return respond(
        ProblemWriter.problem(
            HttpStatus.INTERNAL_SERVER_ERROR,
            "internal-error",
            "Internal error",
            "the server failed to handle the request; see its log",
            null));
  }

  @Override
  protected ResponseEntity<Object> handleHttpMessageNotReadable(
      HttpMessageNotReadableException ex,
      HttpHeaders headers,
      HttpStatusCode status,
      WebRequest request) {
    return respond(notReadable(ex));
  }

  /** Spring's own problems (404 routes, 405, 415, ...) get a stable type too. */
  @Override
  protected ResponseEntity<Object> handleExceptionInternal(
      Exception ex, Object body, HttpHeaders headers, HttpStatusCode statusCode, WebRequest req) {
    ResponseEntity<Object> r = super.handleExceptionInternal(ex, body, headers, statusCode, req);
    if (r != null && r.getBody() instanceof ProblemDetail p) {
      if (p.getType() == null || "about:blank".equals(p.getType().toString())) {
        p.setType(URI.create(ProblemWriter.TYPE_BASE + ProblemWriter.typeFor(p.getStatus())));
      }
      p.setInstance(null);
      HttpHeaders h = new HttpHeaders();
      h.putAll(r.getHeaders());
      h.setContentType(MediaType.APPLICATION_PROBLEM_JSON);
      return new ResponseEntity<>(p, h, r.getStatusCode());
    }
    return r;
  }

  private static ProblemDetail notReadable(HttpMessageNotReadableException ex) {
    Throwable t = ex;
    JacksonException jackson = null;
    while (t != null) {
      if (t instanceof InvalidSpecException spec) {
        return validation(violations(jackson == null ? "" : path(jackson), spec));
      }
      if (t instanceof JacksonException j && jackson == null) {
        jackson = j;
      }
      t = t.getCause();
    }
    if (jackson instanceof PropertyBindingException pb) {
      String field = path(pb);
      if (!field.endsWith(pb.getPropertyName())) {
        field = field.isEmpty() ? pb.getPropertyName() : field + "." + pb.getPropertyName();
      }
      String message =
          SERVER_OWNED.contains(field)
              ? "is set by the server and cannot be given"
              : "is not a known field";
      return validation(List.of(new FieldError(field, message)));
    }
    if (jackson instanceof ValueInstantiationException vi) {
      Throwable cause = vi.getCause();
      String message =
          cause instanceof IllegalArgumentException && cause.getMessage() != null
              ? cause.getMessage()
              : "has an invalid value";
      return validation(List.of(new FieldError(orRoot(path(vi)), message)));
    }
    if (jackson instanceof MismatchedInputException mi) {
      if (mi.getPath().isEmpty()) {
        return malformed("the request body must be a JSON object");
      }
      return validation(List.of(new FieldError(orRoot(path(mi)), expected(mi.getTargetType()))));
    }
    if (jackson instanceof DatabindException de) {
      return validation(List.of(new FieldError(orRoot(path(de)), "has an invalid value")));
    }
    if (jackson instanceof InputCoercionException ic && !ic.getPath().isEmpty()) {
      // valid JSON, a number out of the field's range: the field's problem, not the syntax's
      Class<?> target = ic.getTargetType();
      String kind =
          target == Long.class || target == long.class ? "a 64-bit integer" : "a 32-bit integer";
      return validation(List.of(new FieldError(path(ic), "is out of range for " + kind)));
    }
    if (jackson instanceof StreamReadException sr && sr.getLocation() != null) {
      return malformed(
          "the body is not valid JSON (line "
              + sr.getLocation().getLineNr()
              + ", column "
              + sr.getLocation().getColumnNr()
              + ")");
    }
    return malformed("the request body is missing or not valid JSON");
  }

  private static String expected(Class<?> target) {
    if (target == null) {
      return "has the wrong type";
    }
    if (target == Integer.class
        || target == Long.class
        || target == int.class
        || target == long.class) {
      return "must be an integer";
    }
    if (Number.class.isAssignableFrom(target) || target == double.class) {
      return "must be a number";
    }
    if (target == Boolean.class || target == boolean.class) {
      return "must be true or false";
    }
    if (target == String.class) {
      return "must be a string";
    }
    if (java.util.Collection.class.isAssignableFrom(target)) {
      return "must be a list";
    }
    if (java.time.temporal.Temporal.class.isAssignableFrom(target)) {
      return "must be an ISO-8601 timestamp";
    }
    return "has the wrong type";
  }

  private static String orRoot(String path) {
    return path.isEmpty() ? "(body)" : path;
  }

  /** The JSON path of a Jackson error: {@code hyperparameters.learning_rate}, {@code points[2]}. */
  static String path(JacksonException e) {
    StringBuilder sb = new StringBuilder();
    for (JacksonException.Reference r : e.getPath()) {
      if (r.getPropertyName() != null) {
        if (!sb.isEmpty()) {
          sb.append('.');
        }
        sb.append(r.getPropertyName());
      } else if (r.getIndex() >= 0) {
        sb.append('[').append(r.getIndex()).append(']');
      }
    }
    return sb.toString();
  }

  private static List<FieldError> violations(String prefix, InvalidSpecException e) {
    List<FieldError> errors = new ArrayList<>();
    e.violations()
        .forEach(
            v ->
                errors.add(
                    new FieldError(
                        prefix.isEmpty() ? v.field() : prefix + "." + v.field(), v.message())));
    return errors;
  }

  private static ProblemDetail validation(List<FieldError> errors) {
    ApiException a = ApiException.invalid(errors);
    return ProblemWriter.problem(a.status(), a.type(), a.title(), a.getMessage(), errors);
  }

  private static ProblemDetail malformed(String detail) {
    return ProblemWriter.problem(
        HttpStatus.BAD_REQUEST, "malformed-json", "Malformed request body", detail, null);
  }

  private static ResponseEntity<Object> respond(ProblemDetail p) {
    return ResponseEntity.status(p.getStatus())
        .contentType(MediaType.APPLICATION_PROBLEM_JSON)
        .body(p);
  }
}
