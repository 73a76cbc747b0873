package dev.distill.service.job;

/**
 * The attempt-end policy, written down once beside {@link JobStatus}'s table: what becomes of a
 * leased job (RUNNING or CANCELLING) when its attempt ends without success. The worker's {@code
 * fail} and {@code release} and the reaper of expired leases all ask {@link #decide}; {@link
 * JobTransitions#endAttempt} applies the answer.
 *
 * <pre>
 *                     RUNNING                                  CANCELLING
 * FAILED_RETRYABLE    QUEUED while attempts remain, else FAILED  FAILED (not retryable)
 * FAILED_FOR_GOOD     FAILED (not retryable)                     FAILED (not retryable)
 * STOPPED_FOR_CANCEL  FAILED (no cancel was asked for)           CANCELLED
 * RELEASED            QUEUED, the attempt not counted            CANCELLED
 * LEASE_EXPIRED       QUEUED while attempts remain, else FAILED  CANCELLED
 * </pre>
 *
 * A task's lease (a job that runs as tasks, {@link JobTasks}) ends by the same decision, given the
 * job's status: the outcome is the task's (requeued alone, FAILED and the job with it, CANCELLED).
 *
 * <p>The one status write outside {@link JobTransitions} is the claim's QUEUED to RUNNING in {@code
 * worker/ClaimService}: one SQL statement that picks and leases the job (checked against the table
 * with {@link JobStatus#check}).
 */
public final class AttemptEnd {

  private AttemptEnd() {}

  /** How the attempt ended, as the worker or the reaper reports it. */
  public enum Ending {
    /** The worker failed and says another attempt could succeed. */
    FAILED_RETRYABLE,
    /** The worker failed and says another attempt would fail too. */
    FAILED_FOR_GOOD,
    /** The worker stopped because the heartbeat said the job is being cancelled. */
    STOPPED_FOR_CANCEL,
    /** The worker gave the job back (it is shutting down); the attempt does not count. */
    RELEASED,
    /** The lease expired: the worker was lost. Counts as a retryable failure. */
    LEASE_EXPIRED
  }

  /**
   * What to do.
   *
   * @param to the job's next status
   * @param reason the status event's reason (the failure reason when {@code to} is FAILED)
   * @param retryable for FAILED: whether a retry could help; null otherwise
   * @param attemptCounts false when the attempt is given back (released): the next claim runs the
   *     same attempt number again
   */
  public record Outcome(JobStatus to, String reason, Boolean retryable, boolean attemptCounts) {

    /**
     * The level of the status (or task) event that records it: {@code error} for FAILED, {@code
     * warn} for a retry (QUEUED after a failed or lost attempt that counted), {@code info} for a
     * release or a cancel.
     */
    public String level() {
      if (to == JobStatus.FAILED) {
        return "error";
      }
      return to == JobStatus.QUEUED && attemptCounts ? "warn" : "info";
    }
  }

  /**
   * @param status the job's status, RUNNING or CANCELLING
   * @param ending how the attempt ended
   * @param attempts the attempts made so far, this one included
   * @param maxAttempts the job's {@code max_attempts}
   * @param reason what the worker or reaper said
   */
  public static Outcome decide(
      JobStatus status, Ending ending, int attempts, int maxAttempts, String reason) {
    if (!status.isLeased()) {
      throw new IllegalArgumentException("an attempt ends only under a lease, not in " + status);
    }
    if (status == JobStatus.CANCELLING) {
      return switch (ending) {
        case STOPPED_FOR_CANCEL, RELEASED, LEASE_EXPIRED ->
            new Outcome(JobStatus.CANCELLED, reason, null, true);
        case FAILED_RETRYABLE, FAILED_FOR_GOOD ->
            new Outcome(JobStatus.FAILED, reason, false, true);
      };
    }
    boolean attemptsLeft = attempts < maxAttempts;
    String of = "attempt " + attempts + " of " + maxAttempts + " failed";
    return switch (ending) {
      case RELEASED -> new Outcome(JobStatus.QUEUED, reason, null, false);
      case LEASE_EXPIRED ->
          attemptsLeft
              ? new Outcome(JobStatus.QUEUED, reason, null, true)
              : new Outcome(
                  JobStatus.FAILED,
                  reason + ", the last of " + maxAttempts + " attempts",
                  true,
                  true);
      case FAILED_RETRYABLE ->
          attemptsLeft
              ? new Outcome(JobStatus.QUEUED, of + ", retrying: " + reason, null, true)
              : new Outcome(JobStatus.FAILED, of + ", no attempts left: " + reason, true, true);
      case FAILED_FOR_GOOD, STOPPED_FOR_CANCEL ->
          new Outcome(JobStatus.FAILED, reason, false, true);
    };
  }
}
