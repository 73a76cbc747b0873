package dev.distill.service.web;

import java.sql.SQLException;
import java.sql.SQLNonTransientConnectionException;
import java.sql.SQLRecoverableException;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import org.springframework.dao.DataAccessResourceFailureException;
import org.springframework.dao.RecoverableDataAccessException;
import org.springframework.dao.TransientDataAccessResourceException;
import org.springframework.http.HttpStatus;
import org.springframework.http.ProblemDetail;
import org.springframework.transaction.CannotCreateTransactionException;

/**
 * 503 {@code unavailable} with {@code Retry-After}: the database cannot be reached (the pool gave
 * up after {@code spring.datasource.hikari.connection-timeout}), the service is shutting down, or a
 * cap on waiting claims or open event streams is reached. Clients retry after the header's seconds.
 */
public class Unavailable extends ApiException {

  /** What {@code Retry-After} says, in seconds. */
  public static final Duration RETRY_AFTER = Duration.ofSeconds(5);

  public static final String TYPE = "unavailable";

  public Unavailable(String detail) {
    super(HttpStatus.SERVICE_UNAVAILABLE, TYPE, "Service unavailable", detail);
  }

  static ProblemDetail databaseProblem() {
    return ProblemWriter.problem(
        HttpStatus.SERVICE_UNAVAILABLE,
        TYPE,
        "Service unavailable",
        "the database cannot be reached; try again later",
        null);
  }

  /**
   * Whether {@code t} (or a cause) says the database cannot be reached, not that a query failed.
   */
  static boolean isDatabaseDown(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof CannotCreateTransactionException
          || c instanceof DataAccessResourceFailureException
          || c instanceof TransientDataAccessResourceException
          || c instanceof RecoverableDataAccessException
          || c instanceof SQLTransientConnectionException
          || c instanceof SQLNonTransientConnectionException
          || c instanceof SQLRecoverableException
          || c.getClass().getName().equals("org.hibernate.exception.JDBCConnectionException")) {
        return true;
      }
      // 08: connection exception; 57P01-03: the server is shutting down or starting
      if (c instanceof SQLException s
          && s.getSQLState() != null
          && (s.getSQLState().startsWith("08") || s.getSQLState().startsWith("57P0"))) {
        return true;
      }
      if (c.getCause() == c) {
        break;
      }
    }
    return false;
  }
}
