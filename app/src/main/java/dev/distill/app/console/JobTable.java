package dev.distill.app.console;

import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;

/** Jobs as a table: id, name (metadata), type, status, attempts, created, duration. */
public final class JobTable {

  private JobTable() {}

  /** A column: its header and the field of the job row it shows. */
  enum Column {
    ID("id"),
    NAME("name"),
    TYPE("type"),
    STATUS("status"),
    ATTEMPTS("attempts"),
    CREATED("created_at"),
    DURATION("duration"),
    WORKER("worker_id");

    private final String field;

    Column(String field) {
      this.field = field;
    }
  }

  private static final Column[] LIST = {
    Column.ID,
    Column.NAME,
    Column.TYPE,
    Column.STATUS,
    Column.ATTEMPTS,
    Column.CREATED,
    Column.DURATION
  };

  private static final Column[] ONE = {
    Column.ID, Column.TYPE, Column.STATUS, Column.ATTEMPTS, Column.WORKER
  };

  /**
   * A job row for the table: the job with {@code name} (its {@code metadata.name}) and {@code
   * duration} (started to finished, or to now while it runs) added.
   */
  static JsonNode row(JsonNode job, Instant now) {
    ObjectNode row = ((ObjectNode) job).deepCopy();
    JsonNode name = job.path("spec").path("metadata").path("name");
    row.put("name", name.isString() ? name.asString() : "-");
    row.put("duration", duration(job, now));
    return row;
  }

  static String duration(JsonNode job, Instant now) {
    if (!job.hasNonNull("started_at")) {
      return "-";
    }
    Instant start = Instant.parse(job.get("started_at").asString());
    Instant end =
        job.hasNonNull("finished_at") ? Instant.parse(job.get("finished_at").asString()) : now;
    long s = Math.max(0, Duration.between(start, end).toSeconds());
    return s >= 3600
        ? String.format("%dh%02dm%02ds", s / 3600, s / 60 % 60, s % 60)
        : s >= 60 ? String.format("%dm%02ds", s / 60, s % 60) : s + "s";
  }

  /** Prints the jobs as a table; durations of running jobs run to {@code now}. */
  public static void print(PrintWriter out, Iterable<JsonNode> jobs, Instant now) {
    List<JsonNode> rows = new ArrayList<>();
    jobs.forEach(j -> rows.add(row(j, now)));
    Tables.print(out, rows, headersAndFields(LIST));
  }

  /** Prints one job: id, type, status, attempts and the worker that runs it. */
  public static void printOne(PrintWriter out, JsonNode job) {
    Tables.print(out, List.of(job), headersAndFields(ONE));
  }

  private static String[] headersAndFields(Column[] columns) {
    String[] out = new String[2 * columns.length];
    for (int i = 0; i < columns.length; i++) {
      out[2 * i] = columns[i].name();
      out[2 * i + 1] = columns[i].field;
    }
    return out;
  }
}
