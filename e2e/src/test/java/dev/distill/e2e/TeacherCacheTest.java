package dev.distill.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import tools.jackson.databind.JsonNode;

/**
 * The teacher pass through the service and worker processes, its shards run as tasks: two workers
 * share one pass's shards, one of them killed (kill -9) in the middle of a shard loses only that
 * shard (the other worker writes it once the lease expired; no finished shard is written again),
 * the cache reads back complete, a second pass of the same key reuses it without recomputing, and a
 * distill job trains from it with no teacher.
 */
class TeacherCacheTest {

  static Cluster cluster;

  private static final Duration TIMEOUT = Duration.ofSeconds(240);
  private static final int SHARDS = 4;

  /** Slow enough to be killed in the middle of a shard: batch 1, about 175 sequences a shard. */
  private static final String PASS =
      """
      {"type": "teacher_pass", "teacher": "builtin:gemma2-tiny",
       "dataset": {"uri": "builtin:procedural", "num_examples": 800, "max_seq_len": 48},
       "hyperparameters": {"batch_size": 1, "seed": 5},
       "teacher_pass": {"top_k": 16, "shards": %d}}
      """
          .formatted(SHARDS);

  @BeforeAll
  static void start() throws Exception {
    // 10 s: a task's lease survives a heartbeat or two delayed on a busy machine
    cluster = new Cluster("10s");
  }

  @AfterAll
  static void stop() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
  }

  /** The service's {@code task} events: one per task transition, with the task and its worker. */
  private static List<JsonNode> taskEvents(List<JsonNode> events, String to) {
    return events.stream()
        .filter(e -> e.get("kind").asString().equals("task"))
        .filter(e -> e.get("data").get("to").asString().equals(to))
        .toList();
  }

  /** Tasks that succeeded, by worker. */
  private static Map<String, Set<Integer>> succeededBy(List<JsonNode> events) {
    Map<String, Set<Integer>> out = new HashMap<>();
    for (JsonNode e : taskEvents(events, "SUCCEEDED")) {
      out.computeIfAbsent(e.get("data").get("worker").asString(), k -> new TreeSet<>())
          .add(e.get("data").get("task").asInt());
    }
    return out;
  }

  /** The task {@code worker} holds now (its last claim, not yet ended), or -1. */
  private static int runningTask(List<JsonNode> events, String worker) {
    int task = -1;
    for (JsonNode e : events) {
      if (!e.get("kind").asString().equals("task")
          || !worker.equals(e.get("data").path("worker").asString(""))) {
        continue;
      }
      task =
          e.get("data").get("to").asString().equals("RUNNING")
              ? e.get("data").get("task").asInt()
              : -1;
    }
    return task;
  }

  private static List<Integer> shardsWritten(List<JsonNode> events) {
    Pattern p = Pattern.compile("^shard (\\d+):");
    return events.stream()
        .filter(e -> e.get("kind").asString().equals("shard_written"))
        .map(e -> p.matcher(e.get("message").asString()))
        .filter(Matcher::find)
        .map(m -> Integer.parseInt(m.group(1)))
        .toList();
  }

  private static boolean startedShard(List<JsonNode> events, int shard) {
    return events.stream()
        .anyMatch(
            e ->
                e.get("kind").asString().equals("started")
                    && e.get("message").asString().contains("shard " + shard + " of " + SHARDS));
  }

  private void awaitWorkers(int n) throws Exception {
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (cluster.get("v1/workers").get("items").size() < n) {
      assertThat(System.nanoTime()).as("%d workers registered", n).isLessThan(deadline);
      Thread.sleep(100);
    }
  }

  @Test
  @Timeout(value = 600, unit = TimeUnit.SECONDS)
  void twoWorkersShareTheShardsAndAKilledWorkerLosesOnlyItsShard() throws Exception {
    Map<String, Process> workers = new HashMap<>();
    workers.put("w-a", cluster.startWorker("w-a"));
    workers.put("w-b", cluster.startWorker("w-b"));
    awaitWorkers(2); // both are waiting in a claim when the job arrives
    String pass = cluster.createJob(PASS);

    // wait until a worker that finished a task has started another shard, and kill it then: at
    // the start of its second shard, far from its end. (Waiting for both workers to finish a task
    // first raced: the first one could be well into the last shard, which it finishes alone and
    // fast, by then, and the kill landed after it.)
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    String victim = null;
    int killedShard = -1;
    while (victim == null) {
      assertThat(System.nanoTime()).as("a worker finishes a task").isLessThan(deadline);
      List<JsonNode> events = cluster.events(pass);
      Map<String, Set<Integer>> done = succeededBy(events);
      // of two such workers, the one in the higher shard claimed it later (shards are claimed in
      // order), so it is the one furthest from finishing before the kill lands
      for (String w : List.of("w-a", "w-b")) {
        int t = runningTask(events, w);
        if (done.containsKey(w)
            && t >= 0
            && t < SHARDS
            && startedShard(events, t)
            && t > killedShard) {
          victim = w;
          killedShard = t;
        }
      }
      if (victim == null) {
        Thread.sleep(100);
      }
    }
    Thread.sleep(500); // into the shard's forward passes
    Process killed = workers.get(victim);
    killed.destroyForcibly();
    assertThat(killed.waitFor(20, TimeUnit.SECONDS)).isTrue();
    assertThat(killed.exitValue()).as("128 + SIGKILL").isEqualTo(137);
    String survivor = victim.equals("w-a") ? "w-b" : "w-a";

    JsonNode job = cluster.awaitStatus(pass, TIMEOUT, "SUCCEEDED", "FAILED", "CANCELLED");
    List<JsonNode> events = cluster.events(pass);
    List<String> described = Cluster.describe(events);
    assertThat(job.get("status").asString()).as("events %s", described).isEqualTo("SUCCEEDED");
    assertThat(job.get("tasks").get("total").asInt()).isEqualTo(SHARDS + 1);
    assertThat(job.get("tasks").get("succeeded").asInt()).isEqualTo(SHARDS + 1);
    Map<String, Set<Integer>> done = succeededBy(events);
    assertThat(done.keySet()).as("%s", described).containsExactlyInAnyOrder("w-a", "w-b");
    assertThat(done.get(survivor))
        .as("the killed worker's shard was finished by the other, %s", described)
        .contains(killedShard);
    assertThat(done.get(victim)).doesNotContain(killedShard);
    // the killed worker's lease expired, and only that task was requeued
    List<JsonNode> requeued = taskEvents(events, "QUEUED");
    assertThat(requeued).as("%s", described).hasSize(1);
    assertThat(requeued.get(0).get("data").get("task").asInt()).isEqualTo(killedShard);
    assertThat(requeued.get(0).get("message").asString()).contains("expired");
    // only the unfinished shard was written again: every shard once, by a task that succeeded
    List<Integer> written = shardsWritten(events);
    assertThat(new TreeSet<>(written)).as("%s", described).hasSize(SHARDS);
    assertThat(written).as("no finished shard written twice").hasSize(SHARDS);
    assertThat(job.get("tasks").get("sequences_done").asLong())
        .as("the job's progress sums its shards")
        .isEqualTo(job.get("latest_metrics").get("cache_sequences").asLong());
    String output = job.get("output_uri").asString();
    assertThat(output).contains("/teacher-caches/");

    // the same key again: nothing recomputed
    String again = cluster.createJob(PASS);
    JsonNode second = cluster.awaitStatus(again, TIMEOUT, "SUCCEEDED", "FAILED", "CANCELLED");
    List<JsonNode> secondEvents = cluster.events(again);
    assertThat(second.get("status").asString())
        .as("%s", Cluster.describe(secondEvents))
        .isEqualTo("SUCCEEDED");
    assertThat(second.get("output_uri").asString()).isEqualTo(output);
    assertThat(secondEvents).anyMatch(e -> e.get("kind").asString().equals("cache_reused"));
    assertThat(secondEvents).noneMatch(e -> e.get("kind").asString().equals("shard_written"));

    // a student trains from it with no teacher (opening it verifies every shard)
    String distill =
        cluster.createJob(
            """
            {"type": "distill", "teacher_logits": "job:%s", "student": "builtin:gemma2-tiny",
             "dataset": {"uri": "builtin:procedural", "num_examples": 800, "max_seq_len": 48},
             "hyperparameters": {"max_steps": 3, "batch_size": 4, "seed": 5}}
            """
                .formatted(pass));
    JsonNode student = cluster.awaitStatus(distill, TIMEOUT, "SUCCEEDED", "FAILED", "CANCELLED");
    List<JsonNode> studentEvents = cluster.events(distill);
    assertThat(student.get("status").asString())
        .as("%s", Cluster.describe(studentEvents))
        .isEqualTo("SUCCEEDED");
    assertThat(studentEvents).anyMatch(e -> e.get("kind").asString().equals("cache_opened"));
    assertThat(cluster.series(distill, "kl")).hasSize(3);
  }
}
