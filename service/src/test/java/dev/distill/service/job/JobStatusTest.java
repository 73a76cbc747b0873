package dev.distill.service.job;

import static dev.distill.service.job.JobStatus.CANCELLED;
import static dev.distill.service.job.JobStatus.CANCELLING;
import static dev.distill.service.job.JobStatus.FAILED;
import static dev.distill.service.job.JobStatus.QUEUED;
import static dev.distill.service.job.JobStatus.RUNNING;
import static dev.distill.service.job.JobStatus.SUCCEEDED;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.EnumSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The transition table, one test per source status, every target checked. */
class JobStatusTest {

  private static Set<JobStatus> targets(JobStatus from) {
    Set<JobStatus> out = EnumSet.noneOf(JobStatus.class);
    for (JobStatus to : JobStatus.values()) {
      if (from.canBecome(to)) {
        out.add(to);
      }
    }
    return out;
  }

  @Test
  void queuedIsClaimedCancelledOrFailedByADependency() {
    assertThat(targets(QUEUED)).containsExactlyInAnyOrder(RUNNING, CANCELLED, FAILED);
  }

  @Test
  void runningEndsIsRequeuedOrIsBeingCancelled() {
    assertThat(targets(RUNNING)).containsExactlyInAnyOrder(SUCCEEDED, FAILED, QUEUED, CANCELLING);
  }

  @Test
  void cancellingEndsCancelledOrAsTheWorkerFinished() {
    assertThat(targets(CANCELLING)).containsExactlyInAnyOrder(CANCELLED, SUCCEEDED, FAILED);
  }

  @Test
  void terminalStatusesGoNowhere() {
    for (JobStatus s : EnumSet.of(SUCCEEDED, FAILED, CANCELLED)) {
      assertThat(targets(s)).as(s.name()).isEmpty();
      assertThat(s.isTerminal()).isTrue();
    }
    assertThat(QUEUED.isTerminal()).isFalse();
  }

  @Test
  void onlyRunningAndCancellingHoldALease() {
    assertThat(EnumSet.allOf(JobStatus.class).stream().filter(JobStatus::isLeased))
        .containsExactlyInAnyOrder(RUNNING, CANCELLING);
  }

  @Test
  void checkRejectsATransitionNotInTheTable() {
    assertThatThrownBy(() -> JobStatus.check(SUCCEEDED, QUEUED))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("SUCCEEDED -> QUEUED");
    assertThatThrownBy(() -> JobStatus.check(QUEUED, SUCCEEDED))
        .isInstanceOf(IllegalStateException.class);
    JobStatus.check(RUNNING, QUEUED);
  }
}
