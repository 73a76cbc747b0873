package dev.distill.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
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
 * The teacher pass through the service and worker processes: a worker killed (kill -9) in the
 * middle of a pass loses only the shard it was writing (its replacement reuses every finished
 * shard), a second pass of the same key reuses the cache without recomputing, and a distill job
 * trains from the cache with no teacher.
 */
class TeacherCacheTest {

  static Cluster cluster;

  private static final Duration TIMEOUT = Duration.ofSeconds(240);
  private static final int SHARDS = 8;

  /** Slow enough to be killed in the middle: batch 1 over about 2,800 sequences. */
  private static final String PASS =
      """
      {"type": "teacher_pass", "teacher": "builtin:gemma2-tiny",
       "dataset": {"uri": "builtin:procedural", "num_examples": 3000, "max_seq_len": 48},
       "hyperparameters": {"batch_size": 1, "seed": 5},
       "teacher_pass": {"top_k": 16, "shards": %d}}
      """
          .formatted(SHARDS);

  @BeforeAll
  static void start() throws Exception {
    cluster = new Cluster("6s");
  }

  @AfterAll
  static void stop() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
  }

  private static Set<Integer> shards(List<JsonNode> events, String kind, int attempt) {
    Pattern p = Pattern.compile("shard (\\d+)");
    Set<Integer> out = new TreeSet<>();
    for (JsonNode e : events) {
      if (e.get("kind").asString().equals(kind) && e.get("attempt").asInt() == attempt) {
        Matcher m = p.matcher(e.get("message").asString());
        if (m.find()) {
          out.add(Integer.parseInt(m.group(1)));
        }
      }
    }
    return out;
  }

  @Test
  @Timeout(value = 600, unit = TimeUnit.SECONDS)
  void aKilledPassLosesOnlyItsUnfinishedShardAndASecondPassReusesTheCache() throws Exception {
    String pass = cluster.createJob(PASS);
    Process first = cluster.startWorker("w-pass-killed");
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (shards(cluster.events(pass), "shard_written", 1).isEmpty()) {
      assertThat(System.nanoTime()).as("a first shard within the timeout").isLessThan(deadline);
      Thread.sleep(100);
    }
    first.destroyForcibly();
    assertThat(first.waitFor(20, TimeUnit.SECONDS)).isTrue();
    assertThat(first.exitValue()).as("128 + SIGKILL").isEqualTo(137);

    cluster.startWorker("w-pass-replacement");
    JsonNode job = cluster.awaitStatus(pass, TIMEOUT, "SUCCEEDED", "FAILED", "CANCELLED");
    List<JsonNode> events = cluster.events(pass);
    List<String> described = Cluster.describe(events);
    assertThat(job.get("status").asString()).as("events %s", described).isEqualTo("SUCCEEDED");
    assertThat(job.get("attempts").asInt()).isEqualTo(2);
    Set<Integer> before = shards(events, "shard_written", 1);
    Set<Integer> reused = shards(events, "shard_reused", 2);
    Set<Integer> after = shards(events, "shard_written", 2);
    assertThat(before).as("killed in the middle, %s", described).hasSizeLessThan(SHARDS);
    // what attempt 1 finished is kept; attempt 2 writes the rest, the killed shard included
    assertThat(reused).as("%s", described).containsAll(before);
    Set<Integer> all = new TreeSet<>(reused);
    all.addAll(after);
    assertThat(all).hasSize(SHARDS);
    assertThat(after).doesNotContainAnyElementsOf(reused);
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

    // a student trains from it with no teacher
    String distill =
        cluster.createJob(
            """
            {"type": "distill", "teacher_logits": "job:%s", "student": "builtin:gemma2-tiny",
             "dataset": {"uri": "builtin:procedural", "num_examples": 3000, "max_seq_len": 48},
             "hyperparameters": {"max_steps": 3, "batch_size": 4, "seed": 5}}
            """
                .formatted(again));
    JsonNode student = cluster.awaitStatus(distill, TIMEOUT, "SUCCEEDED", "FAILED", "CANCELLED");
    List<JsonNode> studentEvents = cluster.events(distill);
    assertThat(student.get("status").asString())
        .as("%s", Cluster.describe(studentEvents))
        .isEqualTo("SUCCEEDED");
    assertThat(studentEvents).anyMatch(e -> e.get("kind").asString().equals("cache_opened"));
    assertThat(cluster.series(distill, "kl")).hasSize(3);
  }
}
