package dev.distill.service.web;

import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.dao.DataAccessException;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.transaction.TransactionException;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;

/**
 * Answers {@link Unavailable} and a database that cannot be reached with 503 problem+json and
 * {@code Retry-After}, ahead of {@link ApiExceptionHandler} (which would say 500). Other data
 * access errors are still that handler's.
 */
@RestControllerAdvice
@Order(Ordered.HIGHEST_PRECEDENCE)
class UnavailableHandler {

  private final ApiExceptionHandler others;

  UnavailableHandler(ApiExceptionHandler others) {
    this.others = others;
  }

  @ExceptionHandler(Unavailable.class)
  ResponseEntity<Object> unavailable(Unavailable e) {
    return respond(ProblemWriter.problem(e.status(), e.type(), e.title(), e.getMessage(), null));
  }

  @ExceptionHandler({
    DataAccessException.class,
    TransactionException.class,
    java.sql.SQLException.class
  })
  ResponseEntity<Object> dataAccess(Exception e) {
    if (Unavailable.isDatabaseDown(e)) {
      return respond(Unavailable.databaseProblem());
    }
    return others.unexpected(e);
  }

  static ResponseEntity<Object> respond(ProblemDetail p) {
    return ResponseEntity.status(p.getStatus())
        .header(HttpHeaders.RETRY_AFTER, Long.toString(Unavailable.RETRY_AFTER.toSeconds()))
        .contentType(MediaType.APPLICATION_PROBLEM_JSON)
        .body(p);
  }
}
