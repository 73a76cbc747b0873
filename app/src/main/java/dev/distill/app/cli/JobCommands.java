package dev.distill.app.cli;

import dev.distill.app.console.JobTable;
import dev.distill.app.console.MetricRows;
import dev.distill.app.console.Tables;
import dev.distill.app.control.ApiClient;
import java.io.PrintWriter;
import java.nio.file.Path;
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

  static void printJson(PrintWriter out, JsonNode node) {
    out.println(ApiClient.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(node));
    out.flush();
  }

  static void printJob(Connection c, PrintWriter out, JsonNode job) {
    if (c.json()) {
      printJson(out, job);
      return;
    }
    JobTable.printOne(out, job);
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
      JsonNode job = conn.jobs().submit(body, idempotencyKey);
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
      JsonNode page = conn.jobs().list(status, type, limit, after);
      PrintWriter out = spec.commandLine().getOut();
      if (conn.json()) {
        printJson(out, page);
      } else {
        JobTable.print(out, page.path("items"), java.time.Instant.now());
        if (page.path("has_more").asBoolean(false)) {
          out.println("more: --after " + page.path("next_after").asString(""));
        }
      }
      out.flush();
      return 0;
    }
  }

  /** A command about one job: the connection options and the job id. */
  abstract static class OnJob implements Callable<Integer> {
    @Mixin Connection conn;
    @Spec CommandSpec spec;

    @Parameters(paramLabel = "ID", description = "The job id.")
    String id;
  }

  @Command(name = "job", description = "Show one job.")
  static final class Show extends OnJob {

    @Override
    public Integer call() {
      printJob(conn, spec.commandLine().getOut(), conn.jobs().job(id));
      return 0;
    }
  }

  @Command(name = "cancel", description = "Cancel a job (a running job stops within one step).")
  static final class Cancel extends OnJob {

    @Override
    public Integer call() {
      printJob(conn, spec.commandLine().getOut(), conn.jobs().cancel(id));
      return 0;
    }
  }

  /** The series {@code metrics} shows unless told: training losses and the validation loss. */
  static final String DEFAULT_METRICS = "loss,kl,ce,val_loss";

  @Command(name = "metrics", description = "Show a job's metric series.")
  static final class Metrics extends OnJob {

    @Option(
        names = "--names",
        description = "Comma-separated series names (default " + DEFAULT_METRICS + ").")
    String names = DEFAULT_METRICS;

    @Option(names = "--after-step", description = "Only steps after this one.")
    long afterStep = -1;

    @Override
    public Integer call() {
      JsonNode body = conn.jobs().metrics(id, names, afterStep);
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
  static final class Checkpoints extends OnJob {

    @Override
    public Integer call() {
      JsonNode body = conn.jobs().checkpoints(id);
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
