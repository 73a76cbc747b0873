package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * The part of a job a claim hands out when the job runs as tasks (a {@code teacher_pass} with
 * {@code shards >= 2}): one shard, or the seal that runs once every shard is written. The lease of
 * the claim is the task's: heartbeats, events and the end are the task's alone.
 *
 * @param index the task's index: the shard for {@code shard}, {@code shards} for {@code seal}
 * @param count how many shards the job has (its tasks are {@code count} shards and one seal)
 * @param kind {@code shard} or {@code seal}
 */
public record ClaimedTask(
    @JsonProperty("index") int index,
    @JsonProperty("count") int count,
    @JsonProperty("kind") String kind) {

  public static final String SHARD = "shard";
  public static final String SEAL = "seal";

  public ClaimedTask {
    if (!SHARD.equals(kind) && !SEAL.equals(kind)) {
      throw new IllegalArgumentException("task kind: must be shard or seal, not " + kind);
    }
  }

  public boolean isSeal() {
    return SEAL.equals(kind);
  }
}
