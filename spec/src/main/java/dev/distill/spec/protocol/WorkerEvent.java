package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.time.Instant;
import java.util.Locale;
import java.util.Map;

/**
 * One event a worker reports (a log line of the job's history).
 *
 * @param seq client-side sequence number per attempt, from 0; a resent event with the same seq is
 *     ignored
 * @param ts when it happened (worker clock); default now
 * @param level {@code debug}, {@code info}, {@code warn} or {@code error}; default {@code info}
 * @param kind a short machine-readable kind, for example {@code eval} or {@code truncated}
 * @param message human-readable text, at most 4096 characters
 * @param data optional structured details
 */
public record WorkerEvent(
    @JsonProperty("seq") Long seq,
    @JsonProperty("ts") Instant ts,
    @JsonProperty("level") String level,
    @JsonProperty("kind") String kind,
    @JsonProperty("message") String message,
    @JsonProperty("data") Map<String, Object> data) {

  public WorkerEvent {
    level = level == null ? "info" : level.toLowerCase(Locale.ROOT);
    kind = kind == null ? "log" : kind;
    Checks c = new Checks();
    c.require("seq", seq);
    c.range("seq", seq, 0, Long.MAX_VALUE);
    c.check(
        level.equals("debug")
            || level.equals("info")
            || level.equals("warn")
            || level.equals("error"),
        "level",
        "must be debug, info, warn or error, was '" + level + "'");
    c.check(kind.matches("[a-z0-9_.-]{1,64}"), "kind", "must be 1..64 of a-z 0-9 _ . -");
    c.check(!kind.equals("status"), "kind", "'status' is reserved for status transitions");
    c.text("message", message, 4096);
    c.storable("data", data);
    c.timestamp("ts", ts);
    c.throwIfAny();
  }
}
