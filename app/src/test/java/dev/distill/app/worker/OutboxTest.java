package dev.distill.app.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.app.control.ScriptedService;
import dev.distill.app.control.ScriptedService.Answer;
import dev.distill.app.control.WorkerClient;
import dev.distill.spec.protocol.EventBatch;
import dev.distill.spec.protocol.WorkerEvent;
import java.time.Duration;
import java.time.Instant;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * An outbox against a real HTTP server that refuses its batch (409, the lease was lost): the
 * refusal is reported to its owner before {@code flush} returns false for it, so an attempt that
 * wakes from the flush knows its lease is gone and delivers its metric points as late points. It
 * once read the flag before the refusal had set it, took the failed flush for "the service could
 * not be reached" and dropped every buffered point (seen in {@code ServiceRestartTest}).
 */
class OutboxTest {

  @Test
  void aRefusalIsReportedBeforeFlushReturnsFalseForIt() throws Exception {
    try (ScriptedService service =
        new ScriptedService()
            .otherwise(
                "events",
                new Answer(
                    409,
                    null,
                    "{\"type\": \"lease-lost\", \"title\": \"Lease no longer held\","
                        + " \"status\": 409}"))) {
      WorkerClient client = new WorkerClient(service.base(), "worker-token");
      UUID lease = UUID.randomUUID();
      AtomicBoolean lost = new AtomicBoolean();
      try (Outbox<WorkerEvent> events =
          new Outbox<>(
              "events",
              batch -> client.events(lease, new EventBatch(1L, batch)),
              500,
              e -> {
                // the owner's handler takes a moment (it logs); flush must wait for it
                try {
                  Thread.sleep(300);
                } catch (InterruptedException ie) {
                  Thread.currentThread().interrupt();
                }
                lost.set(e.status() == 409);
              },
              () -> {},
              d -> {})) {
        events.add(new WorkerEvent(0L, Instant.now(), "info", "checkpoint", "step 50", null));
        assertThat(events.flush(Duration.ofSeconds(30))).as("refused, not drained").isFalse();
        assertThat(lost).as("the refusal was reported when flush returned").isTrue();
        assertThat(events.pendingCount()).isZero();
      }
      assertThat(service.received("events")).hasSize(1);
    }
  }
}
