package dev.distill.service.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceProcess;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Real processes: SIGTERM while workers' claims wait and a user follows a job's events. Every
 * waiting claim is answered at once (204, or 503 problem+json), the event stream ends cleanly, none
 * sees a dropped connection, the database stops only after the web server drained, and the service
 * exits well before the claims' 25 s wait (which it took before).
 */
class ShutdownTest {

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void sigtermAnswersWaitingClaimsAndExitsPromptly() throws Exception {
    try (ServiceProcess service = new ServiceProcess().start()) {
      String worker = service.token("worker");
      List<CompletableFuture<HttpResponse<String>>> claims = new ArrayList<>();
      for (int i = 0; i < 6; i++) {
        String body =
            "{\"worker_id\":\"w"
                + i
                + "\",\"capabilities\":{\"device\":\"cpu\",\"memory_mb\":1000},\"wait_seconds\":25}";
        claims.add(
            service
                .http()
                .sendAsync(
                    service.request(
                        "POST", "/v1/worker/claims", worker, body, Duration.ofSeconds(60)),
                    HttpResponse.BodyHandlers.ofString()));
      }
      awaitWaiting(service, 6);
      // a job none of the waiting workers can claim (they have no labels)
      HttpResponse<String> created =
          service.post(
              "/v1/jobs",
              ServiceProcess.ADMIN,
              ServiceProcess.JOB.replaceFirst(
                  "\\}$", ",\"requirements\":{\"labels\":{\"pool\":\"elsewhere\"}}}"));
      assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
      String job = ServiceProcess.json(created).get("id").asString();
      CompletableFuture<HttpResponse<String>> stream =
          service
              .http()
              .sendAsync(
                  HttpRequest.newBuilder(service.uri("/v1/jobs/" + job + "/events"))
                      .header("Authorization", "Bearer " + ServiceProcess.ADMIN)
                      .header("Accept", "text/event-stream")
                      .timeout(Duration.ofSeconds(60))
                      .build(),
                  HttpResponse.BodyHandlers.ofString());
      Instant open = Instant.now().plusSeconds(30);
      while (gauge(service, "distill_event_streams_open") < 1) {
        assertThat(Instant.now()).as("the event stream opens").isBefore(open);
        Thread.sleep(100);
      }

      Duration exit = service.terminate(Duration.ofSeconds(20));

      HttpResponse<String> followed;
      try {
        followed = stream.get(5, TimeUnit.SECONDS);
      } catch (ExecutionException e) {
        throw new AssertionError("the event stream was cut instead of ended: " + e.getCause(), e);
      }
      assertThat(followed.statusCode()).isEqualTo(200);
      assertThat(followed.body()).as("it sent the job's events, then ended").contains("created");

      for (CompletableFuture<HttpResponse<String>> c : claims) {
        HttpResponse<String> r;
        try {
          r = c.get(5, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
          throw new AssertionError("a waiting claim got no answer: " + e.getCause(), e);
        }
        assertThat(r.statusCode()).as(r.body()).isIn(204, 503);
        if (r.statusCode() == 503) {
          assertThat(r.headers().firstValue("Content-Type")).contains("application/problem+json");
        }
      }
      String log = Files.readString(service.log());
      assertThat(log).contains("Graceful shutdown complete", "embedded PostgreSQL stopped");
      assertThat(log.indexOf("embedded PostgreSQL stopped"))
          .as("the database stops after the web server's graceful shutdown")
          .isGreaterThan(log.indexOf("Graceful shutdown complete"));
      assertThat(service.postmaster()).as("no postmaster left").isEmpty();
      assertThat(exit).as("exit after SIGTERM").isLessThan(Duration.ofSeconds(20));
    }
  }

  /** Until the service's gauge says {@code n} claims wait. */
  static void awaitWaiting(ServiceProcess service, int n) throws Exception {
    Instant deadline = Instant.now().plusSeconds(60);
    while (waiting(service) < n) {
      assertThat(Instant.now()).as("%.0f claims waiting", waiting(service)).isBefore(deadline);
      Thread.sleep(100);
    }
  }

  static double waiting(ServiceProcess service) throws Exception {
    return gauge(service, "distill_claims_waiting");
  }

  /** A gauge's value from {@code /actuator/prometheus}. */
  static double gauge(ServiceProcess service, String name) throws Exception {
    HttpResponse<String> r = service.get("/actuator/prometheus", null);
    for (String line : r.body().split("\n")) {
      if (line.startsWith(name + " ") || line.startsWith(name + "{")) {
        return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    throw new IOException(name + " not in /actuator/prometheus");
  }
}
