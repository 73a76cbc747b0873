package dev.distill.app.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.app.control.ApiClient;
import dev.distill.app.control.ScriptedService;
import dev.distill.app.control.ScriptedService.Answer;
import dev.distill.app.control.WorkerClient;
import dev.distill.spec.protocol.EventBatch;
import dev.distill.spec.protocol.WorkerEvent;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/**
 * The worker's retry loops (claims, heartbeats, report batches) against a real HTTP server that
 * answers 503 with {@code Retry-After} first: each waits at least what was asked (the waits are
 * recorded, not slept), and a heartbeat never waits past its lease.
 */
class RetryAfterWorkerTest {

  static final String HEARTBEAT_OK =
      "{\"lease_expires_at\": \"2030-01-01T00:00:00Z\", \"cancel_requested\": false,"
          + " \"status\": \"RUNNING\"}";

  /** Records each wait instead of sleeping; after {@code stopAfter} waits it interrupts. */
  static final class Recorder implements Sleeper {
    final List<Duration> waits = Collections.synchronizedList(new ArrayList<>());
    final CountDownLatch stopped = new CountDownLatch(1);
    final int stopAfter;

    Recorder(int stopAfter) {
      this.stopAfter = stopAfter;
    }

    @Override
    public void sleep(Duration d) throws InterruptedException {
      waits.add(d);
      if (waits.size() >= stopAfter) {
        stopped.countDown();
        throw new InterruptedException("enough");
      }
    }
  }

  @Test
  void theClaimLoopWaitsWhatA503sRetryAfterAsks() throws Exception {
    try (ScriptedService service =
        new ScriptedService()
            .script("claims", Answer.unavailable("9"), Answer.unavailable(null))
            .otherwise("claims", new Answer(401, null, null))) {
      Recorder sleeper = new Recorder(Integer.MAX_VALUE);
      WorkerConfig config = config(service);
      int exit;
      try (Worker worker = new Worker(config, sleeper)) {
        exit = worker.run();
      }

      assertThat(exit).as("the 401 ends the loop").isEqualTo(2);
      assertThat(service.received("claims")).hasSize(3);
      assertThat(sleeper.waits).hasSize(2);
      assertThat(sleeper.waits.get(0))
          .as("Retry-After: 9, plus at most a tenth")
          .isBetween(Duration.ofSeconds(9), Duration.ofMillis(9900));
      assertThat(sleeper.waits.get(1))
          .as("no Retry-After: the backoff's base (1 s by now) with jitter")
          .isBetween(Duration.ofMillis(500), Duration.ofSeconds(1));
    }
  }

  @Test
  void shutdownEndsAWaitBetweenClaimsAtOnce() throws Exception {
    try (ScriptedService service =
        new ScriptedService().otherwise("claims", Answer.unavailable("60"))) {
      WorkerConfig config = config(service);
      try (Worker worker = new Worker(config)) { // the real wait
        Thread loop = new Thread(() -> assertThat(callQuietly(worker)).isZero());
        loop.start();
        org.awaitility.Awaitility.await()
            .atMost(Duration.ofSeconds(30))
            .until(() -> service.received("claims").size() >= 1);
        Thread.sleep(300); // into the 60 s wait the 503 asked for
        long t0 = System.nanoTime();
        worker.shutdown();
        // a SIGTERM'd idle worker stops within Kubernetes' grace period, not after the minute
        assertThat(worker.awaitStopped(Duration.ofSeconds(10))).isTrue();
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(10));
        loop.join(10_000);
        assertThat(service.received("claims")).hasSize(1);
      }
    }
  }

  private static int callQuietly(Worker worker) {
    try {
      return worker.run();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  @Test
  void aHeartbeatHonoursRetryAfterWithinItsLease() throws Exception {
    try (ScriptedService service =
        new ScriptedService()
            .script("heartbeat", Answer.unavailable("3"))
            .otherwise("heartbeat", Answer.ok(HEARTBEAT_OK))) {
      List<Heartbeat.Trouble> trouble = Collections.synchronizedList(new ArrayList<>());
      Recorder sleeper = new Recorder(3);
      Heartbeat beat = heartbeat(service, Duration.ofSeconds(30), trouble, sleeper);
      beat.start();
      assertThat(sleeper.stopped.await(30, TimeUnit.SECONDS)).isTrue();
      beat.stop();

      // the period, the wait after the 503, the period again after the beat that went through
      assertThat(sleeper.waits).hasSize(3);
      assertThat(sleeper.waits.get(0)).isEqualTo(Duration.ofSeconds(10));
      assertThat(sleeper.waits.get(1))
          .as("Retry-After: 3, not the 10 s period")
          .isBetween(Duration.ofSeconds(3), Duration.ofMillis(3300));
      assertThat(sleeper.waits.get(2)).isEqualTo(Duration.ofSeconds(10));
      assertThat(service.received("heartbeat")).hasSize(2);
      assertThat(trouble).hasSize(1);
      assertThat(trouble.get(0).failure().status()).isEqualTo(503);
    }
  }

  @Test
  void aRetryAfterLongerThanTheLeaseIsCutShortOfItsEnd() throws Exception {
    try (ScriptedService service =
        new ScriptedService()
            .script("heartbeat", Answer.unavailable("50"), Answer.unavailable("50"))
            .otherwise("heartbeat", Answer.ok(HEARTBEAT_OK))) {
      List<Heartbeat.Trouble> trouble = Collections.synchronizedList(new ArrayList<>());
      Recorder sleeper = new Recorder(4);
      Duration ttl = Duration.ofSeconds(30);
      Heartbeat beat = heartbeat(service, ttl, trouble, sleeper);
      beat.start();
      assertThat(sleeper.stopped.await(30, TimeUnit.SECONDS)).isTrue();
      beat.stop();

      // 50 s would outlast the 30 s lease: each retry goes out a sixth of the TTL (5 s) before
      // the lease ends by the worker's clock; the waits are not taken, so the lease stays whole
      assertThat(sleeper.waits).hasSize(4);
      assertThat(trouble).hasSize(2);
      for (Heartbeat.Trouble t : trouble) {
        assertThat(t.retryIn())
            .isLessThanOrEqualTo(t.leaseLeft().minus(Duration.ofSeconds(5)))
            .isGreaterThan(Duration.ofSeconds(20));
      }
      assertThat(sleeper.waits.get(1)).isEqualTo(trouble.get(0).retryIn());
      assertThat(service.received("heartbeat")).as("the third beat went through").hasSize(3);
    }
  }

  @Test
  void theLatestRetryLeavesASixthOfTheTtlAndNeverLessThanAMoment() {
    Duration ttl = Duration.ofSeconds(60);
    assertThat(Heartbeat.latestRetry(Duration.ofSeconds(40), ttl))
        .isEqualTo(Duration.ofSeconds(30));
    assertThat(Heartbeat.latestRetry(Duration.ofSeconds(10), ttl)).isEqualTo(Heartbeat.MIN_RETRY);
    assertThat(Heartbeat.latestRetry(Duration.ofSeconds(-5), ttl)).isEqualTo(Heartbeat.MIN_RETRY);
  }

  @Test
  void aBatchRefusedWith503IsSentAgainAfterItsRetryAfterAndOnlyOnceMore() throws Exception {
    try (ScriptedService service =
        new ScriptedService()
            .script("events", Answer.unavailable("4"))
            .otherwise(
                "events",
                Answer.ok(
                    "{\"accepted\": 1, \"lease_lost\": false, \"cancel_requested\": false}"))) {
      WorkerClient client = new WorkerClient(service.base(), "worker-token");
      UUID lease = UUID.randomUUID();
      Recorder sleeper = new Recorder(Integer.MAX_VALUE);
      List<Integer> retries = new ArrayList<>();
      try (Outbox<WorkerEvent> events =
          new Outbox<>(
              "events",
              batch -> client.events(lease, new EventBatch(1L, batch)),
              500,
              e -> {},
              () -> retries.add(1),
              sleeper)) {
        events.add(new WorkerEvent(0L, Instant.now(), "warn", "lease", "heartbeat failed", null));
        assertThat(events.flush(Duration.ofSeconds(30))).isTrue();
      }

      assertThat(sleeper.waits).hasSize(1);
      assertThat(sleeper.waits.get(0)).isBetween(Duration.ofSeconds(4), Duration.ofMillis(4400));
      assertThat(retries).hasSize(1);
      // the same batch twice: the service ignores a seq it stored already (LeaseService.events)
      List<ScriptedService.Received> sent = service.received("events");
      assertThat(sent).hasSize(2);
      assertThat(seqs(sent.get(0).body())).containsExactly(0L);
      assertThat(sent.get(1).body()).isEqualTo(sent.get(0).body());
    }
  }

  static List<Long> seqs(String body) {
    List<Long> out = new ArrayList<>();
    for (JsonNode e : ApiClient.JSON.readTree(body).path("events")) {
      out.add(e.path("seq").asLong());
    }
    return out;
  }

  static Heartbeat heartbeat(
      ScriptedService service, Duration ttl, List<Heartbeat.Trouble> trouble, Sleeper sleeper) {
    return new Heartbeat(
        new WorkerClient(service.base(), "worker-token"),
        UUID.randomUUID(),
        1L,
        ttl,
        () -> 5L,
        beat -> {},
        () -> {
          throw new AssertionError("the lease is not lost");
        },
        trouble::add,
        sleeper);
  }

  /** A worker of the scripted service: no metrics port, one thread. */
  private static WorkerConfig config(ScriptedService service) throws java.io.IOException {
    return new WorkerConfig(
        service.base(),
        "worker-token",
        "w-1",
        null,
        Files.createTempDirectory("distill-retry"),
        -1,
        null,
        1,
        false,
        null);
  }
}
