package dev.distill.trainer.cli;

import dev.distill.spec.JobSpec;
import dev.distill.trainer.control.ApiClient;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.dataformat.yaml.YAMLMapper;

/** The commands that read and change jobs through the REST API. */
final class JobCommands {

  private JobCommands() {}

  static final String[] JOB_COLUMNS = {
    "ID", "id", "TYPE", "type", "STATUS", "status", "ATTEMPTS", "attempts", "CREATED", "created_at"
  };

  static void printJob(Connection c, PrintWriter out, JsonNode job) {
    if (c.json()) {
      out.println(ApiClient.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(job));
      out.flush();
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

  /** Reads a JSON or YAML spec file and checks it with the same records the service uses. */
  static String readSpec(Path file) throws Exception {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException(file + ": no such file");
    }
    String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
    ObjectMapper reader =
        name.endsWith(".yaml") || name.endsWith(".yml")
            ? YAMLMapper.builder().build()
            : JsonMapper.builder().build();
    JsonNode tree;
    try {
      tree = reader.readTree(file.toFile());
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(file + ": not valid JSON/YAML: " + e.getMessage(), e);
    }
    ObjectMapper strict =
        JsonMapper.builder().enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES).build();
    try {
      strict.treeToValue(tree, JobSpec.class);
    } catch (RuntimeException e) {
      Throwable root = e;
      while (root.getCause() != null) {
        root = root.getCause();
      }
      throw new IllegalArgumentException(file + ": " + root.getMessage(), e);
    }
    return ApiClient.JSON.writeValueAsString(tree);
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

    @Override
    public Integer call() throws Exception {
      String body = readSpec(file);
      Map<String, String> headers =
          idempotencyKey == null ? Map.of() : Map.of("Idempotency-Key", idempotencyKey);
      JsonNode job = conn.client().send("POST", "v1/jobs", body, headers, Duration.ofSeconds(30));
      printJob(conn, spec.commandLine().getOut(), job);
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
        out.println(ApiClient.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(page));
      } else {
        Tables.print(out, page.path("items"), JOB_COLUMNS);
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

  @Command(name = "metrics", description = "Show a job's metric series.")
  static final class Metrics implements Callable<Integer> {
    @Mixin Connection conn;
    @Spec CommandSpec spec;

    @Parameters(paramLabel = "ID")
    String id;

    @Option(names = "--names", description = "Comma-separated series names (default loss,kl,ce).")
    String names = "loss,kl,ce";

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
        out.println(ApiClient.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(body));
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
        out.println(ApiClient.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(body));
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
