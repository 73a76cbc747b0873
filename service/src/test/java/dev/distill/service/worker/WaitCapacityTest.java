package dev.distill.service.worker;

import static dev.distill.service.worker.ShutdownTest.awaitWaiting;
import static dev.distill.service.worker.ShutdownTest.gauge;
import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceProcess;
import java.io.InputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import tools.jackson.databind.JsonNode;

/**
 * Real processes: long-poll claims and event streams hold no request thread. 250 waiting claims
 * leave liveness answering at once and the thread count flat; 500 event streams opened and left
 * leave no threads behind; one beyond either cap gets 503 problem+json with {@code Retry-After}.
 */
class WaitCapacityTest {

  static ServiceProcess service;

  @BeforeAll
  static void start() throws Exception {
    service =
        new ServiceProcess(
                "--distill.max-claim-waits=250",
                "--distill.event-streams.max=500",
                "--distill.event-streams.keepalive=1s")
            .start();
  }

  @AfterAll
  static void stop() throws Exception {
    if (service != null) {
      service.close();
    }
  }

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void twoHundredFiftyWaitingClaimsHoldNoThreads() throws Exception {
    String worker = service.token("worker");
    service.get("/actuator/health/liveness", null);
    long before = service.threads();
    List<CompletableFuture<HttpResponse<String>>> claims = new ArrayList<>();
    for (int i = 0; i < 250; i++) {
      claims.add(
          service
              .http()
              .sendAsync(claim(worker, "w" + i, 20), HttpResponse.BodyHandlers.ofString()));
      if (i % 25 == 24) {
        awaitWaiting(service, i + 1); // in steps, as workers arrive
      }
    }
    awaitWaiting(service, 250);

    long t0 = System.nanoTime();
    HttpResponse<String> live =
        service.send("GET", "/actuator/health/liveness", null, null, Duration.ofSeconds(30));
    double seconds = (System.nanoTime() - t0) / 1e9;
    assertThat(live.statusCode()).isEqualTo(200);
    assertThat(seconds).as("liveness with 250 claims waiting").isLessThan(5);
    long during = service.threads();
    assertThat(during - before)
        .as("threads %d before, %d with 250 claims waiting", before, during)
        .isLessThan(100);

    HttpResponse<String> beyond =
        service.http().send(claim(worker, "w250", 20), HttpResponse.BodyHandlers.ofString());
    assertUnavailable(beyond);

    for (CompletableFuture<HttpResponse<String>> c : claims) {
      assertThat(c.get(60, TimeUnit.SECONDS).statusCode()).isEqualTo(204);
    }
  }

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void fiveHundredEventStreamsOpenedAndLeftLeaveNoThreads() throws Exception {
    String id = service.createJob();
    service.get("/v1/jobs/" + id + "/events", ServiceProcess.ADMIN);
    long before = service.threads();
    List<InputStream> streams = new ArrayList<>();
    for (int i = 0; i < 500; i++) {
      HttpResponse<InputStream> r =
          service.http().send(follow(id), HttpResponse.BodyHandlers.ofInputStream());
      assertThat(r.statusCode()).as("stream %d", i).isEqualTo(200);
      streams.add(r.body());
    }
    for (InputStream s : streams) {
      assertThat(s.read()).as("the stream sends the job's first event").isPositive();
    }
    assertThat(gauge(service, "distill_event_streams_open")).isEqualTo(500);

    HttpResponse<String> beyond =
        service.http().send(follow(id), HttpResponse.BodyHandlers.ofString());
    assertUnavailable(beyond);

    for (InputStream s : streams) {
      s.close(); // the client leaves
    }
    Instant deadline = Instant.now().plusSeconds(60);
    while (gauge(service, "distill_event_streams_open") > 0) {
      assertThat(Instant.now())
          .as("%s streams still open", gauge(service, "distill_event_streams_open"))
          .isBefore(deadline);
      Thread.sleep(250);
    }
    long after = service.threads();
    assertThat(after - before)
        .as("threads %d before the streams, %d after they were left", before, after)
        .isLessThan(50);
  }

  private static HttpRequest claim(String token, String workerId, int waitSeconds) {
    return service.request(
        "POST",
        "/v1/worker/claims",
        token,
        "{\"worker_id\":\""
            + workerId
            + "\",\"capabilities\":{\"device\":\"cpu\",\"memory_mb\":1000},\"wait_seconds\":"
            + waitSeconds
            + "}",
        Duration.ofSeconds(90));
  }

  private static HttpRequest follow(String jobId) {
    return HttpRequest.newBuilder(service.uri("/v1/jobs/" + jobId + "/events"))
        .header("Authorization", "Bearer " + ServiceProcess.ADMIN)
        .header("Accept", "text/event-stream")
        .timeout(Duration.ofSeconds(60))
        .GET()
        .build();
  }

  private static void assertUnavailable(HttpResponse<String> r) {
    assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
    assertThat(r.headers().firstValue("Content-Type")).contains("application/problem+json");
    assertThat(r.headers().firstValue("Retry-After")).isPresent();
    JsonNode p = ServiceProcess.json(r);
    assertThat(p.get("type").asString()).endsWith("/unavailable");
    assertThat(p.get("detail").asString()).contains("distill.");
  }
}
