package dev.distill.service.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceProcess;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import tools.jackson.databind.JsonNode;

/**
 * Real processes: the service JVM with its embedded PostgreSQL, whose postmaster the test kills
 * with SIGKILL.
 */
class PostgresCrashTest {

  /**
   * Jobs are submitted from eight threads while the postmaster is killed; the watchdog starts it
   * again, and every job that was answered 201 is there. (With {@code synchronous_commit=off} the
   * commits of the last fraction of a second before the kill are lost.)
   */
  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void everyAcknowledgedJobSurvivesKill9OfPostgres() throws Exception {
    try (ServiceProcess service = new ServiceProcess().start()) {
      ConcurrentLinkedQueue<String> acknowledged = new ConcurrentLinkedQueue<>();
      AtomicBoolean go = new AtomicBoolean(true);
      ExecutorService submitters = Executors.newFixedThreadPool(8);
      List<Future<?>> running = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        running.add(
            submitters.submit(
                () -> {
                  while (go.get()) {
                    try {
                      HttpResponse<String> r =
                          service.send(
                              "POST",
                              "/v1/jobs",
                              ServiceProcess.ADMIN,
                              ServiceProcess.JOB,
                              Duration.ofSeconds(30));
                      if (r.statusCode() == 201) {
                        acknowledged.add(ServiceProcess.json(r).get("id").asString());
                      }
                    } catch (Exception e) {
                      // the database is down: not acknowledged, nothing to check
                    }
                  }
                  return null;
                }));
      }
      awaitCount(acknowledged, 100, Duration.ofSeconds(60));
      long killed = service.killPostgres();
      int beforeKill = acknowledged.size();
      Thread.sleep(500); // answers written just before the kill are still arriving
      go.set(false);
      for (Future<?> f : running) {
        f.get(60, TimeUnit.SECONDS);
      }
      submitters.shutdown();

      awaitApi(service, Duration.ofSeconds(60));
      assertThat(service.postmaster().orElseThrow().pid())
          .as("the watchdog started a new postmaster")
          .isNotEqualTo(killed);
      List<String> missing = new ArrayList<>();
      for (String id : acknowledged) {
        int status = service.get("/v1/jobs/" + id, ServiceProcess.ADMIN).statusCode();
        if (status != 200) {
          missing.add(id + " (" + status + ")");
        }
      }
      assertThat(missing)
          .as("of %d acknowledged jobs (%d before the kill)", acknowledged.size(), beforeKill)
          .isEmpty();
    }
  }

  /**
   * With PostgreSQL down (the watchdog kept away), a call is answered well within the pool's old 30
   * s: 503 problem+json, type {@code unavailable}, with {@code Retry-After}; readiness is DOWN and
   * liveness stays UP.
   */
  @Test
  @Timeout(value = 180, unit = TimeUnit.SECONDS)
  void withPostgresDownCallsGet503WithRetryAfterQuickly() throws Exception {
    try (ServiceProcess service =
        new ServiceProcess("--distill.embedded.watchdog-interval=1h").start()) {
      String id = service.createJob();
      service.killPostgres();

      for (String[] call :
          new String[][] {
            {"GET", "/v1/jobs/" + id, null}, {"POST", "/v1/jobs", ServiceProcess.JOB}
          }) {
        long t0 = System.nanoTime();
        HttpResponse<String> r =
            service.send(call[0], call[1], ServiceProcess.ADMIN, call[2], Duration.ofSeconds(60));
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertThat(r.statusCode()).as("%s %s: %s", call[0], call[1], r.body()).isEqualTo(503);
        assertThat(r.headers().firstValue("Content-Type")).contains("application/problem+json");
        assertThat(r.headers().firstValue("Retry-After")).contains("5");
        JsonNode p = ServiceProcess.json(r);
        assertThat(p.get("type").asString()).endsWith("/unavailable");
        assertThat(p.get("status").asInt()).isEqualTo(503);
        assertThat(seconds).as("answered after %.1f s", seconds).isLessThan(15);
      }
      assertThat(service.get("/actuator/health/readiness", null).statusCode()).isEqualTo(503);
      assertThat(service.get("/actuator/health/liveness", null).statusCode()).isEqualTo(200);
    }
  }

  private static void awaitCount(ConcurrentLinkedQueue<String> ids, int n, Duration timeout)
      throws InterruptedException {
    Instant deadline = Instant.now().plus(timeout);
    while (ids.size() < n) {
      assertThat(Instant.now()).as("%d jobs acknowledged", ids.size()).isBefore(deadline);
      Thread.sleep(50);
    }
  }

  /** Waits until the API answers again (the watchdog restarted PostgreSQL). */
  static void awaitApi(ServiceProcess service, Duration timeout) throws Exception {
    Instant deadline = Instant.now().plus(timeout);
    while (service.get("/v1/jobs?limit=1", ServiceProcess.ADMIN).statusCode() != 200) {
      assertThat(Instant.now())
          .as("the API answers again; see %s", service.log())
          .isBefore(deadline);
      Thread.sleep(250);
    }
  }
}
