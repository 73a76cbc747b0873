package dev.distill.service.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** 32 workers claim from 500 queued jobs over HTTP: each job is claimed exactly once. */
class ConcurrentClaimTest extends ServiceTest {

  @Test
  void thirtyTwoThreadsClaimFiveHundredJobsEachExactlyOnce() throws Exception {
    Project p = newProject();
    // Insert the queue in SQL (creating 500 jobs over HTTP is not what is tested here).
    String spec = JSON.writeValueAsString(JSON.readTree(minimal("finetune", 0)));
    jdbc.update(
        "INSERT INTO jobs (id, project, type, status, spec, priority, max_attempts)"
            + " SELECT gen_random_uuid(), ?, 'finetune', 'QUEUED', ?, (i % 3), 3"
            + " FROM generate_series(1, 500) i",
        p.name(),
        JSON.writeValueAsString(
            JSON.readTree(
                "{\"type\":\"finetune\",\"student\":{\"uri\":\"builtin:gemma2-tiny\"},\"dataset\":{\"uri\":\"builtin:procedural\"}}")));
    assertThat(spec).isNotEmpty();
    Map<String, String> claimedBy = new ConcurrentHashMap<>();
    AtomicInteger duplicates = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(32);
    List<Future<Integer>> results = new ArrayList<>();
    for (int t = 0; t < 32; t++) {
      String worker = "w" + t;
      results.add(
          pool.submit(
              () -> {
                int n = 0;
                while (true) {
                  Resp r = post("/v1/worker/claims", p.worker(), claimBody(worker, 0));
                  if (r.status() == 204) {
                    return n;
                  }
                  assertThat(r.status()).as(r.body()).isEqualTo(200);
                  String job = r.json().get("job").get("id").asString();
                  if (claimedBy.putIfAbsent(job, worker) != null) {
                    duplicates.incrementAndGet();
                  }
                  n++;
                }
              }));
    }
    int total = 0;
    for (Future<Integer> f : results) {
      total += f.get();
    }
    pool.shutdown();
    assertThat(duplicates.get()).isZero();
    assertThat(total).isEqualTo(500);
    assertThat(claimedBy).hasSize(500);
    assertThat(
            jdbc.queryForObject(
                "SELECT count(*) FROM jobs WHERE project = ? AND status = 'RUNNING' AND attempts = 1 AND epoch = 1",
                Integer.class,
                p.name()))
        .isEqualTo(500);
    assertThat(claimedBy.values().stream().distinct().count())
        .as("work was spread")
        .isGreaterThan(1);
  }
}
