package dev.distill.app.demo;

import dev.distill.app.console.JobFollower;
import dev.distill.app.console.JobTable;
import dev.distill.app.console.MetricRows;
import dev.distill.app.control.ApiClient;
import dev.distill.app.control.JobsClient;
import dev.distill.app.control.TokensClient;
import java.io.PrintWriter;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;

/**
 * The demo end to end on one machine. Starts the service (embedded PostgreSQL) and one worker as
 * separate processes, then through the REST API finetunes a teacher from scratch, distills a
 * smaller student from it, trains the same student from scratch as the baseline, evaluates all
 * three and writes the report.
 */
public final class DemoRun {

  private DemoRun() {}

  /**
   * Runs the whole demo and writes the report into {@code out}.
   *
   * @return 0 when the report was written
   */
  public static int run(PrintWriter o, DemoPlan plan, Path out, Path homeDir) throws Exception {
    Files.createDirectories(out);
    Instant started = Instant.now();
    try (LocalProcesses procs = new LocalProcesses(out.resolve("logs"))) {
      int port = LocalProcesses.freePort();
      URI url = URI.create("http://127.0.0.1:" + port + "/");
      o.println(
          "starting the service on "
              + url
              + " (DISTILL_HOME="
              + homeDir
              + ", logs in "
              + out.resolve("logs")
              + ")");
      o.flush();
      Process service = procs.startService(homeDir, port, Map.of());
      LocalProcesses.awaitHttpOk(
          url.resolve("actuator/health/readiness"),
          Duration.ofMinutes(3),
          service,
          procs.log("service"));
      String admin = adminToken(homeDir);
      ApiClient api = new ApiClient(url, admin);
      JobsClient jobs = new JobsClient(api);
      String workerToken =
          new TokensClient(api)
              .create("demo-worker", "worker", "default", null)
              .path("token")
              .asString();
      procs.startWorker(
          "worker",
          List.of(
              "--url",
              url.toString(),
              "--storage-root",
              homeDir.resolve("data").resolve("artifacts").toString(),
              "--metrics-port",
              "0",
              "--id",
              "demo-worker-1"),
          Map.of("DISTILL_TOKEN", workerToken));
      o.println("worker started; jobs already in this database:");
      JsonNode earlier = jobs.list(null, null, 100, null);
      JobTable.print(o, earlier.path("items"), Instant.now());

      String teacher = runJob(jobs, o, "teacher", plan.teacherSpec());
      String distilled = runJob(jobs, o, "distilled", plan.distilledSpec(teacher));
      String baseline = runJob(jobs, o, "baseline", plan.baselineSpec());

      List<DemoReport.ModelResult> results = new ArrayList<>();
      Map<String, String> trained = new java.util.LinkedHashMap<>();
      trained.put("teacher", teacher);
      trained.put("distilled", distilled);
      trained.put("baseline", baseline);
      for (Map.Entry<String, String> e : trained.entrySet()) {
        String evalJob =
            runJob(
                jobs,
                o,
                "eval-" + e.getKey(),
                plan.evaluateSpec(e.getValue(), teacher, e.getKey()));
        Map<String, Double> m =
            latest(
                jobs,
                evalJob,
                "val_loss,kl_to_teacher,exact_match,top1_agreement,val_ppl,parameters,"
                    + "val_loss_unique,val_loss_several");
        results.add(
            new DemoReport.ModelResult(
                e.getKey(),
                e.getValue(),
                evalJob,
                m.getOrDefault("parameters", 0.0).longValue(),
                m.getOrDefault("val_loss", Double.NaN),
                m.getOrDefault("kl_to_teacher", Double.NaN),
                m.getOrDefault("exact_match", Double.NaN),
                Map.of(
                    "top1_agreement", m.getOrDefault("top1_agreement", Double.NaN),
                    "val_ppl", m.getOrDefault("val_ppl", Double.NaN),
                    "val_loss_unique", m.getOrDefault("val_loss_unique", Double.NaN),
                    "val_loss_several", m.getOrDefault("val_loss_several", Double.NaN))));
      }
      // one quantity per chart: the distilled student's "loss" is its KD term, not comparable
      // with the others' cross-entropy, so every model's "ce" is drawn and its KL apart
      List<DemoReport.Curve> trainCe = new ArrayList<>();
      List<DemoReport.Curve> trainKl = new ArrayList<>();
      List<DemoReport.Curve> val = new ArrayList<>();
      for (Map.Entry<String, String> e : trained.entrySet()) {
        trainCe.add(new DemoReport.Curve(e.getKey(), series(jobs, e.getValue(), DemoReport.CE)));
        List<double[]> kl = series(jobs, e.getValue(), DemoReport.KL);
        if (!kl.isEmpty()) {
          trainKl.add(new DemoReport.Curve(e.getKey(), kl));
        }
        val.add(new DemoReport.Curve(e.getKey(), series(jobs, e.getValue(), "val_loss")));
      }
      List<String> regime =
          new ArrayList<>(plan.regime(results.get(0).parameters(), results.get(1).parameters()));
      regime.add(
          "wall time of the whole demo: "
              + Duration.between(started, Instant.now()).toSeconds()
              + " s on "
              + Runtime.getRuntime().availableProcessors()
              + " cores");
      String md =
          DemoReport.write(out, results, regime, new DemoReport.Curves(trainCe, trainKl, val));
      o.println();
      o.println(DemoReport.table(results));
      o.println(DemoReport.verdict(results));
      o.println("report: " + out.resolve("report.md").toAbsolutePath());
      o.flush();
      return md.isEmpty() ? 1 : 0;
    }
  }

  private static String runJob(
      JobsClient jobs, PrintWriter o, String label, Map<String, Object> spec)
      throws InterruptedException {
    JsonNode job = jobs.submit(spec, null);
    String id = job.path("id").asString();
    o.println("[" + label + "] submitted job " + id);
    o.flush();
    JsonNode end = new JobFollower(jobs, o, System.console() != null, label).follow(id);
    if (!"SUCCEEDED".equals(end.path("status").asString())) {
      throw new IllegalStateException(
          label
              + " job "
              + id
              + " ended "
              + end.path("status").asString()
              + ": "
              + end.path("failure_reason").asString(""));
    }
    return id;
  }

  /** The last value of each named series of a job. */
  static Map<String, Double> latest(JobsClient jobs, String jobId, String names) {
    Map<String, Double> m = new HashMap<>();
    Map<String, Long> at = new HashMap<>();
    for (JsonNode p : metricRows(jobs, jobId, names)) {
      String name = p.path("name").asString();
      long step = p.path("step").asLong();
      if (step >= at.getOrDefault(name, Long.MIN_VALUE)) {
        at.put(name, step);
        m.put(name, p.path("value").asDouble());
      }
    }
    return m;
  }

  static List<double[]> series(JobsClient jobs, String jobId, String name) {
    List<double[]> pts = new ArrayList<>();
    for (JsonNode p : metricRows(jobs, jobId, name)) {
      pts.add(new double[] {p.path("step").asDouble(), p.path("value").asDouble()});
    }
    pts.sort((a, b) -> Double.compare(a[0], b[0]));
    return pts;
  }

  private static List<JsonNode> metricRows(JobsClient jobs, String jobId, String names) {
    return MetricRows.flatten(jobs.metrics(jobId, names, -1));
  }

  private static String adminToken(Path home) throws Exception {
    String env = System.getenv("DISTILL_ADMIN_TOKEN");
    if (env != null && !env.isBlank()) {
      return env.trim();
    }
    Path file = home.resolve("admin-token");
    if (!Files.isReadable(file)) {
      throw new IllegalStateException(
          "the service wrote no admin token to " + file + "; set DISTILL_ADMIN_TOKEN");
    }
    return Files.readString(file).trim();
  }
}
