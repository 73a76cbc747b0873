package dev.distill.service.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A claim waiting with {@code wait_seconds} is woken by LISTEN/NOTIFY when a job is created. The
 * test context polls only every 30 s and the claim waits 25 s, so without the notification the
 * claim could only end at its deadline (25 s); with it, it ends right after the job is created.
 */
class ClaimWakeupTest extends ServiceTest {

  @Test
  void waitingClaimIsWokenByANewJobLongBeforeThePollInterval() throws Exception {
    Project p = newProject();
    CompletableFuture<Resp> waiting =
        CompletableFuture.supplyAsync(
            () -> post("/v1/worker/claims", p.worker(), claimBody("waiter", 25)));
    Thread.sleep(1500); // let the claim find the queue empty and start waiting
    assertThat(waiting).isNotDone();
    long created = System.nanoTime();
    String id = createJob(p.member(), minimal("distill", 0));
    Resp r = waiting.get(20, TimeUnit.SECONDS); // well before the 25 s deadline and 30 s poll
    double seconds = (System.nanoTime() - created) / 1e9;
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.json().get("job").get("id").asString()).isEqualTo(id);
    assertThat(seconds).as("woken by NOTIFY, not by the poll").isLessThan(15);
  }

  @Test
  void waitingClaimReturns204AfterItsWait() {
    Project p = newProject();
    Resp r = post("/v1/worker/claims", p.worker(), claimBody("idle", 1));
    assertThat(r.status()).isEqualTo(204);
  }
}
