package dev.distill.app.cli;

import dev.distill.app.console.MetricRows;
import dev.distill.app.console.Tables;
import dev.distill.app.control.ApiClient;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import tools.jackson.databind.JsonNode;

/** The commands that read and change jobs through the REST API. */
final class JobCommands {

  private JobCommands() {}

  static final String[] JOB_COLUMNS = {
    "ID",
    "id",
    "NAME",
    "name",
    "TYPE",
    "type",
    "STATUS",
    "status",
    "ATTEMPTS",
    "attempts",
    "CREATED",
    "created_at",
    "DURATION",
    "duration"
  };

  /**
   * A job row for the table: the job with {@code name} (its {@code metadata.name}) and {@code
   * duration} (started to finished, or to now while it runs) added.
   */
  static JsonNode jobRow(JsonNode job, java.time.Instant now) {
    tools.jackson.databind.node.ObjectNode row =
        ((tools.jackson.databind.node.ObjectNode) job).deepCopy();
    JsonNode name = job.path("spec").path("metadata").path("name");
    row.put("name", name.isString() ? name.asString() : "-");
    row.put("duration", duration(job, now));
    return row;
  }

  static String duration(JsonNode job, java.time.Instant now) {
    if (!job.hasNonNull("started_at")) {
      return "-";
    }
    java.time.Instant start = java.time.Instant.parse(job.get("started_at").asString());
    java.time.Instant end =
        job.hasNonNull("finished_at")
            ? java.time.Instant.parse(job.get("finished_at").asString())
            : now;
    long s = Math.max(0, Duration.between(start, end).toSeconds());
    return s >= 3600
        ? String.format("%dh%02dm%02ds", s / 3600, s / 60 % 60, s % 60)
        : s >= 60 ? String.format("%dm%02ds", s / 60, s % 60) : s + "s";
  }

  static void printJson(PrintWriter out, JsonNode node) {
    out.println(ApiClient.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(node));
    out.flush();
  }

  static void printJob(Connection c, PrintWriter out, JsonNode job) {
    if (c.json()) {
      printJson(out, job);
      return;
    }
    Tables.print(
        out,
        java.util.List.of(job),
        "ID",
        "id",
        "TYPE",
        "type",
        "STATUS",
        "status",
        "ATTEMPTS",
        "attempts",
        "WORKER",
        "worker_id");
    if (job.hasNonNull("failure_reason")) {
      out.println("failure: " + job.get("failure_reason").asString());
    }
    if (job.hasNonNull("output_uri")) {
      out.println("output: " + job.get("output_uri").asString());
    }
    out.flush();
  }

  @Command(
      name = "submit",
      description = "Submit a job spec (JSON or YAML file); prints the new job.")
  static final class Submit implements Callable<Integer> {
    @Mixin Connection conn;
    @Spec CommandSpec spec;

    @Parameters(paramLabel = "FILE", description = "The job spec, JSON or YAML.")
    Path file;

    @Option(
        names = "--idempotency-key",
        description = "Retrying with the same key returns the same job.")
    String idempotencyKey;

    @Option(
        names = "--set",
        paramLabel = "FIELD=VALUE",
        description =
            "Set a field of the spec before it is checked and sent (repeatable; dots for nesting):"
                + " --set teacher=job:<id> --set hyperparameters.max_steps=50. VALUE is read as"
                + " JSON when it is a number, true, false, an object or an array, else as a string.")
    java.util.List<String> sets = new java.util.ArrayList<>();

    @Option(
        names = {"-q", "--quiet"},
        description = "Print only the new job's id (for scripts: ID=$(distill submit -q ...)).")
    boolean quiet;

    @Override
    public Integer call() throws Exception {
      String body = ApiClient.JSON.writeValueAsString(SpecFiles.readTree(file, sets));
      Map<String, String> headers =
          idempotencyKey == null ? Map.of() : Map.of("Idempotency-Key", idempotencyKey);
      JsonNode job = conn.client().send("POST", "v1/jobs", body, headers, Duration.ofSeconds(30));
      if (quiet) {
        spec.commandLine().getOut().println(job.path("id").asString());
        spec.commandLine().getOut().flush();
      } else {
        printJob(conn, spec.commandLine().getOut(), job);
      }
      return 0;
    }
  }

  @Command(name = "jobs", description = "List jobs, newest first.")
  static final class List implements Callable<Integer> {
    @Mixin Connection conn;
    @Spec CommandSpec spec;

    @Option(names = "--status", description = "Only jobs in this status.")
    String status;

    @Option(names = "--type", description = "Only jobs of this type.")
    String type;

    @Option(names = "--limit", description = "At most this many (1..100, default 20).")
    int limit = 20;

    @Option(names = "--after", description = "Cursor: the next_after of a previous page.")
    String after;

    @Override
    public Integer call() {
      StringBuilder path = new StringBuilder("v1/jobs?limit=").append(limit);
      if (status != null) {
        path.append("&status=").append(ApiClient.q(status));
      }
      if (type != null) {
        path.append("&type=").append(ApiClient.q(type));
      }
      if (after != null) {
        path.append("&after=").append(ApiClient.q(after));
      }
      JsonNode page = conn.client().get(path.toString());
      PrintWriter out = spec.commandLine().getOut();
      if (conn.json()) {
        printJson(out, page);
      } else {
        java.time.Instant now = java.time.Instant.now();
        java.util.List<JsonNode> rows = new java.util.ArrayList<>();
        page.path("items").forEach(j -> rows.add(jobRow(j, now)));
        Tables.print(out, rows, JOB_COLUMNS);
        if (page.path("has_more").asBoolean(false)) {
          out.println("more: --after " + page.path("next_after").asString(""));
        }
      }
      out.flush();
      return 0;
    }
  }

  @Command(name = "job", description = "Show one job.")
  static final class Show implements Callable<Integer> {
    @Mixin Connection conn;
    @Spec CommandSpec spec;

    @Parameters(paramLabel = "ID")
    String id;

    @Override
    public Integer call() {
      printJob(conn, spec.commandLine().getOut(), conn.client().get("v1/jobs/" + ApiClient.q(id)));
      return 0;
    }
  }

  @Command(name = "cancel", description = "Cancel a job (a running job stops within one step).")
  static final class Cancel implements Callable<Integer> {
    @Mixin Connection conn;
    @Spec CommandSpec spec;

    @Parameters(paramLabel = "ID")
    String id;

    @Override
    public Integer call() {
      printJob(
          conn,
          spec.commandLine().getOut(),
          conn.client().post("v1/jobs/" + ApiClient.q(id) + "/cancel", null));
      return 0;
    }
  }

  /** The series {@code metrics} shows unless told: training losses and the validation loss. */
  static final String DEFAULT_METRICS = "loss,kl,ce,val_loss";

  @Command(name = "metrics", description = "Show a job's metric series.")
  static final class Metrics implements Callable<Integer> {
    @Mixin Connection conn;
    @Spec CommandSpec spec;

    @Parameters(paramLabel = "ID")
    String id;

    @Option(
        names = "--names",
        description = "Comma-separated series names (default " + DEFAULT_METRICS + ").")
    String names = DEFAULT_METRICS;

    @Option(names = "--after-step", description = "Only steps after this one.")
    long afterStep = -1;

    @Override
    public Integer call() {
      String path =
          "v1/jobs/"
              + ApiClient.q(id)
              + "/metrics?names="
              + ApiClient.q(names)
              + (afterStep >= 0 ? "&after_step=" + afterStep : "");
      JsonNode body = conn.client().get(path);
      PrintWriter out = spec.commandLine().getOut();
      if (conn.json()) {
        printJson(out, body);
      } else {
        Tables.print(
            out, MetricRows.flatten(body), "NAME", "name", "STEP", "step", "VALUE", "value");
      }
      out.flush();
      return 0;
    }
  }

  @Command(name = "checkpoints", description = "List a job's checkpoints.")
  static final class Checkpoints implements Callable<Integer> {
    @Mixin Connection conn;
    @Spec CommandSpec spec;

    @Parameters(paramLabel = "ID")
    String id;

    @Override
    public Integer call() {
      JsonNode body = conn.client().get("v1/jobs/" + ApiClient.q(id) + "/checkpoints");
      PrintWriter out = spec.commandLine().getOut();
      if (conn.json()) {
        printJson(out, body);
      } else {
        JsonNode items = body.isArray() ? body : body.path("items");
        Tables.print(
            out, items, "STEP", "step", "FINAL", "final", "SIZE", "size_bytes", "URI", "uri");
      }
      out.flush();
      return 0;
    }
  }
}
