package dev.distill.app.control;

/**
 * An HTTP error from the service, or the service unreachable (status 0). The message is one line.
 */
public final class ApiException extends RuntimeException {

  private final int status;
  private final String type;

  public ApiException(int status, String type, String message) {
    super(message);
    this.status = status;
    this.type = type;
  }

  public ApiException(String message, Throwable cause) {
    super(message, cause);
    this.status = 0;
    this.type = null;
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
