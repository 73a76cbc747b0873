package dev.distill.trainer.cache;

/**
 * A teacher cache that cannot be used: a shard that is truncated, corrupt, of another key or
 * missing. The message names the file. Not retryable: the same bytes fail the same way.
 */
public final class TeacherCacheException extends RuntimeException {

  public TeacherCacheException(String message) {
    super(message);
  }

  public TeacherCacheException(String message, Throwable cause) {
    super(message, cause);
  }
}
