package dev.distill.service.job;

import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

/**
 * The job lifecycle, written down once.
 *
 * <pre>
 * QUEUED     -> RUNNING (claimed) | CANCELLED (cancel) | FAILED (a job: dependency failed)
 * RUNNING    -> SUCCEEDED | FAILED | QUEUED (lease lost or retryable failure, attempts left;
 *               or released by the worker, the attempt not counted) | CANCELLING (cancel)
 * CANCELLING -> CANCELLED (worker stopped or released, or lease lost) | SUCCEEDED
 *               | FAILED (worker finished first)
 * SUCCEEDED, FAILED, CANCELLED: terminal
 * </pre>
 */
public enum JobStatus {
  QUEUED,
  RUNNING,
  CANCELLING,
  SUCCEEDED,
  FAILED,
  CANCELLED;

  private static final Map<JobStatus, Set<JobStatus>> ALLOWED =
      Map.of(
          QUEUED, EnumSet.of(RUNNING, CANCELLED, FAILED),
          RUNNING, EnumSet.of(SUCCEEDED, FAILED, QUEUED, CANCELLING),
          CANCELLING, EnumSet.of(CANCELLED, SUCCEEDED, FAILED),
          SUCCEEDED, EnumSet.noneOf(JobStatus.class),
          FAILED, EnumSet.noneOf(JobStatus.class),
          CANCELLED, EnumSet.noneOf(JobStatus.class));

  public boolean canBecome(JobStatus next) {
    return ALLOWED.get(this).contains(next);
  }

  public boolean isTerminal() {
    return ALLOWED.get(this).isEmpty();
  }

  /** Held by a worker: a lease exists. */
  public boolean isLeased() {
    return this == RUNNING || this == CANCELLING;
  }

  /** Throws if the table does not allow {@code from -> to}; a bug in the caller otherwise. */
  public static void check(JobStatus from, JobStatus to) {
    if (!from.canBecome(to)) {
      throw new IllegalStateException("transition " + from + " -> " + to + " is not allowed");
    }
  }
}
