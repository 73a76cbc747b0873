package dev.distill.app.worker;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The level of each kind of event a run reports (docs/api.md, "Event levels"); the worker's own
 * events (a retry's claim, a failed heartbeat, a failed attempt) are shown through the API in e2e's
 * {@code AttemptTest}.
 */
class EventLevelsTest {

  @Test
  void whatWentWrongWithoutEndingTheRunIsAWarningAFailureAnError() {
    assertThat(Attempt.levelOf("warning")).isEqualTo("warn");
    assertThat(Attempt.levelOf("checkpoint_skipped")).isEqualTo("warn");
    assertThat(Attempt.levelOf("error")).isEqualTo("error");
    for (String kind :
        new String[] {"started", "resumed", "checkpoint", "finished", "cache_reused", "progress"}) {
      assertThat(Attempt.levelOf(kind)).as(kind).isEqualTo("info");
    }
  }
}
