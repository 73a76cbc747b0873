package dev.distill.service.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceProcess;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Real processes: {@code kill -9} of the service leaves its postmaster running, holding {@code
 * postmaster.pid}. A start right after, on the same home, stops that postmaster and comes up with
 * every job; twice in a row.
 */
class ServiceKillTest {

  @Test
  @Timeout(value = 420, unit = TimeUnit.SECONDS)
  void restartRightAfterKill9ComesUpWithTheJobs() throws Exception {
    try (ServiceProcess service = new ServiceProcess().start()) {
      List<String> jobs = new ArrayList<>();
      for (int restart = 1; restart <= 2; restart++) {
        jobs.add(service.createJob());
        ProcessHandle orphan = service.postmaster().orElseThrow();
        service.kill();
        assertThat(orphan.isAlive()).as("the postmaster outlives kill -9 of the service").isTrue();

        service.start(); // fails the test if the service does not come up
        assertThat(orphan.isAlive())
            .as("restart %d stopped the orphaned postmaster", restart)
            .isFalse();
        assertThat(service.postmaster().orElseThrow().pid()).isNotEqualTo(orphan.pid());
        for (String id : jobs) {
          assertThat(service.get("/v1/jobs/" + id, ServiceProcess.ADMIN).statusCode())
              .as("job %s after restart %d", id, restart)
              .isEqualTo(200);
        }
      }
    }
  }
}
