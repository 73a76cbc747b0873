package dev.distill.service.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/**
 * The levels of the service's own status events, read through {@code GET /v1/jobs/{id}/events}: a
 * requeue after a failed attempt (a retry) is {@code warn}, a release {@code info}, the failure
 * that ends the job {@code error} ({@code AttemptEnd.Outcome#level}).
 */
class StatusEventLevelTest extends ServiceTest {

  private static final String TWO_ATTEMPTS =
      "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"builtin:procedural\"},"
          + "\"max_attempts\":2}";

  @Test
  void aRetryIsAWarningAReleaseInfoAndTheLastFailureAnError() {
    Project p = newProject();
    String id = createJob(p.member(), TWO_ATTEMPTS);

    Lease first = claim(p.worker(), "w-levels");
    Map<String, Object> boom =
        Map.of("epoch", first.epoch(), "reason", "disk full", "retryable", true);
    assertThat(post(first.path("fail"), p.worker(), boom).status()).isEqualTo(204);
    Lease second = claim(p.worker(), "w-levels");
    assertThat(
            post(
                    second.path("release"),
                    p.worker(),
                    Map.of("epoch", second.epoch(), "reason", "shut down"))
                .status())
        .isEqualTo(204);
    Lease third = claim(p.worker(), "w-levels");
    Map<String, Object> again =
        Map.of("epoch", third.epoch(), "reason", "disk full", "retryable", true);
    assertThat(post(third.path("fail"), p.worker(), again).status()).isEqualTo(204);

    List<String> status = new ArrayList<>();
    for (JsonNode e : get("/v1/jobs/" + id + "/events?limit=100", p.viewer()).json().get("items")) {
      if (e.get("kind").asString().equals("status")) {
        status.add(e.get("level").asString() + " " + e.get("message").asString());
      }
    }
    assertThat(status)
        .containsExactly(
            "info created",
            "info QUEUED -> RUNNING: claimed by worker w-levels",
            "warn RUNNING -> QUEUED: attempt 1 of 2 failed, retrying: disk full",
            "info QUEUED -> RUNNING: claimed by worker w-levels",
            "info RUNNING -> QUEUED: released by worker w-levels: shut down",
            "info QUEUED -> RUNNING: claimed by worker w-levels",
            "error RUNNING -> FAILED: attempt 2 of 2 failed, no attempts left: disk full");
  }
}
