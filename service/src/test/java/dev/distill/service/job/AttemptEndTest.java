package dev.distill.service.job;

import static dev.distill.service.job.AttemptEnd.Ending.FAILED_FOR_GOOD;
import static dev.distill.service.job.AttemptEnd.Ending.FAILED_RETRYABLE;
import static dev.distill.service.job.AttemptEnd.Ending.LEASE_EXPIRED;
import static dev.distill.service.job.AttemptEnd.Ending.RELEASED;
import static dev.distill.service.job.AttemptEnd.Ending.STOPPED_FOR_CANCEL;
import static dev.distill.service.job.JobStatus.CANCELLED;
import static dev.distill.service.job.JobStatus.CANCELLING;
import static dev.distill.service.job.JobStatus.FAILED;
import static dev.distill.service.job.JobStatus.QUEUED;
import static dev.distill.service.job.JobStatus.RUNNING;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distill.service.job.AttemptEnd.Outcome;
import org.junit.jupiter.api.Test;

/** The attempt-end policy, one test per case of its table; every outcome is a legal transition. */
class AttemptEndTest {

  private static Outcome running(AttemptEnd.Ending e, int attempts, int max) {
    return checked(RUNNING, AttemptEnd.decide(RUNNING, e, attempts, max, "why"));
  }

  private static Outcome cancelling(AttemptEnd.Ending e) {
    return checked(CANCELLING, AttemptEnd.decide(CANCELLING, e, 1, 3, "why"));
  }

  private static Outcome checked(JobStatus from, Outcome o) {
    assertThat(from.canBecome(o.to())).as("%s -> %s", from, o.to()).isTrue();
    return o;
  }

  @Test
  void retryableFailureWithAttemptsLeftIsQueuedAgain() {
    assertThat(running(FAILED_RETRYABLE, 1, 3))
        .isEqualTo(new Outcome(QUEUED, "attempt 1 of 3 failed, retrying: why", null, true));
  }

  @Test
  void retryableFailureOfTheLastAttemptFailsRetryable() {
    assertThat(running(FAILED_RETRYABLE, 3, 3))
        .isEqualTo(new Outcome(FAILED, "attempt 3 of 3 failed, no attempts left: why", true, true));
  }

  @Test
  void failureForGoodFailsWhateverAttemptsAreLeft() {
    assertThat(running(FAILED_FOR_GOOD, 1, 3)).isEqualTo(new Outcome(FAILED, "why", false, true));
  }

  @Test
  void stopForACancelNobodyAskedForFailsForGood() {
    assertThat(running(STOPPED_FOR_CANCEL, 1, 3))
        .isEqualTo(new Outcome(FAILED, "why", false, true));
  }

  @Test
  void releaseIsQueuedWithoutCountingTheAttempt() {
    assertThat(running(RELEASED, 3, 3)).isEqualTo(new Outcome(QUEUED, "why", null, false));
  }

  @Test
  void expiredLeaseWithAttemptsLeftIsQueuedAgain() {
    assertThat(running(LEASE_EXPIRED, 2, 3)).isEqualTo(new Outcome(QUEUED, "why", null, true));
  }

  @Test
  void expiredLeaseOfTheLastAttemptFailsRetryable() {
    assertThat(running(LEASE_EXPIRED, 3, 3))
        .isEqualTo(new Outcome(FAILED, "why, the last of 3 attempts", true, true));
  }

  @Test
  void cancellingEndsCancelledWhenTheWorkerStoppedReleasedOrWasLost() {
    for (AttemptEnd.Ending e :
        new AttemptEnd.Ending[] {STOPPED_FOR_CANCEL, RELEASED, LEASE_EXPIRED}) {
      assertThat(cancelling(e)).as(e.name()).isEqualTo(new Outcome(CANCELLED, "why", null, true));
    }
  }

  @Test
  void cancellingEndsFailedWhenTheWorkerFailedFirst() {
    for (AttemptEnd.Ending e : new AttemptEnd.Ending[] {FAILED_RETRYABLE, FAILED_FOR_GOOD}) {
      assertThat(cancelling(e)).as(e.name()).isEqualTo(new Outcome(FAILED, "why", false, true));
    }
  }

  @Test
  void onlyALeasedJobEndsAnAttempt() {
    for (JobStatus s : new JobStatus[] {QUEUED, CANCELLED, FAILED, JobStatus.SUCCEEDED}) {
      assertThatThrownBy(() -> AttemptEnd.decide(s, RELEASED, 1, 3, "why"))
          .as(s.name())
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining(s.name());
    }
  }

  @Test
  void aRetryIsAWarningAFailureAnErrorAReleaseOrCancelInfo() {
    assertThat(running(FAILED_RETRYABLE, 1, 3).level()).isEqualTo("warn");
    assertThat(running(LEASE_EXPIRED, 1, 3).level()).isEqualTo("warn");
    assertThat(running(FAILED_RETRYABLE, 3, 3).level()).isEqualTo("error");
    assertThat(running(LEASE_EXPIRED, 3, 3).level()).isEqualTo("error");
    assertThat(running(FAILED_FOR_GOOD, 1, 3).level()).isEqualTo("error");
    assertThat(running(RELEASED, 1, 3).level()).isEqualTo("info");
    assertThat(cancelling(STOPPED_FOR_CANCEL).level()).isEqualTo("info");
    assertThat(cancelling(FAILED_RETRYABLE).level()).isEqualTo("error");
  }
}
