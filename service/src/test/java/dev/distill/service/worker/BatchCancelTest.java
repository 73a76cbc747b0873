package dev.distill.service.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The answers to metric and event batches carry {@code cancel_requested} like the heartbeat, so a
 * worker learns of a cancel at its next batch.
 */
class BatchCancelTest extends ServiceTest {

  @Test
  void metricAndEventAnswersSayWhenTheJobIsBeingCancelled() {
    Project p = newProject();
    String id = createJob(p.member(), example("finetune"));
    Lease l = claim(p.worker(), "w");
    Map<String, Object> metrics =
        Map.of(
            "epoch", l.epoch(), "points", List.of(Map.of("step", 1, "name", "loss", "value", 1.0)));
    Resp before = post(l.path("metrics"), p.worker(), metrics);
    assertThat(before.json().get("cancel_requested").asBoolean()).isFalse();
    assertThat(before.json().get("lease_lost").asBoolean()).isFalse();
    assertThat(before.json().get("accepted").asInt()).isEqualTo(1);

    assertThat(post("/v1/jobs/" + id + "/cancel", p.member(), "").status()).isEqualTo(200);

    Resp m = post(l.path("metrics"), p.worker(), metrics);
    assertThat(m.status()).isEqualTo(200);
    assertThat(m.json().get("cancel_requested").asBoolean()).isTrue();
    Map<String, Object> events =
        Map.of("epoch", l.epoch(), "events", List.of(Map.of("seq", 0, "message", "step 2")));
    Resp e = post(l.path("events"), p.worker(), events);
    assertThat(e.status()).isEqualTo(200);
    assertThat(e.json().get("cancel_requested").asBoolean()).isTrue();
    assertThat(e.json().get("accepted").asInt()).isEqualTo(1);
  }
}
