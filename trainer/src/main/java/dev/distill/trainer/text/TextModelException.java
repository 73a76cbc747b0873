package dev.distill.trainer.text;

import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * A text model could not answer: the endpoint stayed unreachable or kept answering 429/5xx through
 * every retry. It is an I/O failure, so the job's attempt is retryable and the next resumes from
 * what was written.
 */
public class TextModelException extends UncheckedIOException {
  public TextModelException(String message, IOException cause) {
    super(message, cause);
  }

  public TextModelException(String message) {
    super(message, new IOException(message));
  }
}
