package dev.distill.trainer.checkpoint;

/**
 * A checkpoint that cannot be written, found or trusted; the message names the directory and file.
 */
public final class CheckpointException extends RuntimeException {

  public CheckpointException(String message) {
    super(message);
  }

  public CheckpointException(String message, Throwable cause) {
    super(message, cause);
  }
}
