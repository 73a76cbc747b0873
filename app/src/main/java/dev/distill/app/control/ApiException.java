package dev.distill.app.control;

import java.time.Duration;
import java.util.Optional;

/**
 * An HTTP error from the service, or the service unreachable (status 0). The message is one line.
 */
public final class ApiException extends RuntimeException {

  private final int status;
  private final String type;
  private final Duration retryAfter;

  public ApiException(int status, String type, String message) {
    this(status, type, message, null);
  }

  /**
   * @param retryAfter what the answer's {@code Retry-After} asked (429 and 503 only), or null
   */
  public ApiException(int status, String type, String message, Duration retryAfter) {
    super(message);
    this.status = status;
    this.type = type;
    this.retryAfter = retryAfter;
  }

  public ApiException(String message, Throwable cause) {
    super(message, cause);
    this.status = 0;
    this.type = null;
    this.retryAfter = null;
  }

  /**
   * How long a 429 or 503 answer asked the caller to wait ({@code Retry-After}, seconds or an HTTP
   * date, as read by {@link dev.distill.app.endpoint.OpenAiClient#retryAfter}); empty otherwise.
   */
  public Optional<Duration> retryAfter() {
    return Optional.ofNullable(retryAfter);
  }

  /** The HTTP status, or 0 when no response arrived. */
  public int status() {
    return status;
  }

  /** The problem type URI, if the body was a problem. */
  public String type() {
    return type;
  }

  /** True when retrying later may help: no response, 5xx, 429 or 408. */
  public boolean retryable() {
    return status == 0 || status >= 500 || status == 429 || status == 408;
  }
}
