package dev.distill.app.demo;

import dev.distill.app.console.JobFollower;
import dev.distill.app.console.JobTable;
import dev.distill.app.console.MetricRows;
import dev.distill.app.control.ApiClient;
import dev.distill.app.control.JobsClient;
import dev.distill.app.control.TokensClient;
import dev.distill.trainer.data.Split;
import dev.distill.trainer.data.procedural.ProceduralDataset;
import dev.distill.trainer.data.procedural.ProceduralExample;
import java.io.PrintWriter;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;

/**
 * The demo end to end on one machine. Starts the service (embedded PostgreSQL) and {@link
 * DemoPlan#workers()} workers as separate processes, then through the REST API finetunes a teacher
 * from scratch, runs a {@code teacher_pass} job that caches the teacher's top-k distribution over
 * the students' training data, distills a smaller student from that cache, trains the same student
 * from scratch as the baseline, evaluates all three and writes the report. Jobs that do not depend
 * on each other run at once on the workers (the baseline beside the teacher). With several seeds
 * each seed's run goes into its own folder and the report aggregates them.
 */
public final class DemoRun {

  private DemoRun() {}

  /**
   * Runs the whole demo once ({@code seeds} 1) or for {@code seeds} seeds from the plan's, and
   * writes the report into {@code out}.
   *
   * @return 0 when the report was written
   */
  public static int run(PrintWriter o, DemoPlan plan, Path out, Path homeDir, int seeds)
      throws Exception {
    if (seeds < 1) {
      throw new IllegalArgumentException("--seeds must be at least 1, was " + seeds);
    }
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
      int threads = threadsPerWorker(plan.workers());
      for (int w = 1; w <= plan.workers(); w++) {
        procs.startWorker(
            plan.workers() == 1 ? "worker" : "worker-" + w,
            List.of(
                "-Dai.djl.pytorch.num_threads=" + threads,
                "-Dai.djl.pytorch.num_interop_threads=1"),
            List.of(
                "--url",
                url.toString(),
                "--storage-root",
                homeDir.resolve("data").resolve("artifacts").toString(),
                "--metrics-port",
                "0",
                "--id",
                "demo-worker-" + w),
            Map.of("DISTILL_TOKEN", workerToken));
      }
      o.println(
          plan.workers()
              + " worker(s) started, "
              + threads
              + " libtorch thread(s) each; jobs already in this database:");
      JsonNode earlier = jobs.list(null, null, 100, null);
      JobTable.print(o, earlier.path("items"), Instant.now());

      List<DemoReport.Run> runs = new ArrayList<>();
      for (int i = 0; i < seeds; i++) {
        DemoPlan p = plan.withSeed(plan.seed() + i);
        Path dir = seeds == 1 ? out : out.resolve("seed-" + p.seed());
        if (seeds > 1) {
          o.println();
          o.println("=== seed " + p.seed() + " (" + (i + 1) + " of " + seeds + ") ===");
        }
        runs.add(runOnce(o, jobs, p, dir, threads));
      }
      String md;
      if (seeds == 1) {
        md = Files.readString(out.resolve("report.md"));
      } else {
        List<String> regime =
            new ArrayList<>(
                plan.regime(
                    runs.get(0).models().get(0).parameters(),
                    runs.get(0).models().get(1).parameters()));
        regime.add(
            "wall time of all "
                + seeds
                + " seeds: "
                + Duration.between(started, Instant.now()).toSeconds()
                + " s on "
                + Runtime.getRuntime().availableProcessors()
                + " cores");
        md = DemoReport.writeSeeds(out, runs, regime);
        o.println();
        o.println(DemoReport.seedsSummary(runs));
      }
      o.println("report: " + out.resolve("report.md").toAbsolutePath());
      o.flush();
      return md.isEmpty() ? 1 : 0;
    }
  }

  /** Runs the demo once, with the plan's seed, and writes its report into {@code out}. */
  public static int run(PrintWriter o, DemoPlan plan, Path out, Path homeDir) throws Exception {
    return run(o, plan, out, homeDir, 1);
  }

  /**
   * libtorch threads per worker: the cores shared out, so that jobs at once do not oversubscribe.
   */
  static int threadsPerWorker(int workers) {
    return Math.max(1, Runtime.getRuntime().availableProcessors() / Math.max(1, workers));
  }

  private static DemoReport.Run runOnce(
      PrintWriter o, JobsClient jobs, DemoPlan plan, Path out, int threads) throws Exception {
    Files.createDirectories(out);
    Instant started = Instant.now();
    // what does not wait for anything is submitted at once: the baseline trains beside the teacher
    String teacher = submit(jobs, o, "teacher", plan.teacherSpec());
    String baseline = submit(jobs, o, "baseline", plan.baselineSpec());
    await(jobs, o, "teacher", teacher);
    await(jobs, o, "baseline", baseline); // done long before the teacher (half the steps, smaller)
    // the pass alone first, with both workers idle, so that each takes one of its shards; the
    // evaluations then run beside the distilled student
    String pass = submit(jobs, o, "teacher-pass", plan.teacherPassSpec(teacher));
    await(jobs, o, "teacher-pass", pass);
    Instant passDone = Instant.now();
    String distilled = submit(jobs, o, "distilled", plan.distilledSpec(pass));
    String evalTeacher =
        submit(jobs, o, "eval-teacher", plan.evaluateSpec(teacher, teacher, "teacher"));
    String evalBaseline =
        submit(jobs, o, "eval-baseline", plan.evaluateSpec(baseline, teacher, "baseline"));
    await(jobs, o, "distilled", distilled);
    String evalDistilled =
        submit(jobs, o, "eval-distilled", plan.evaluateSpec(distilled, teacher, "distilled"));

    Map<String, String> trained = new LinkedHashMap<>();
    trained.put("teacher", teacher);
    trained.put("distilled", distilled);
    trained.put("baseline", baseline);
    Map<String, String> evals =
        Map.of("teacher", evalTeacher, "distilled", evalDistilled, "baseline", evalBaseline);
    List<DemoReport.ModelResult> results = new ArrayList<>();
    Map<String, boolean[]> hits = new LinkedHashMap<>();
    boolean[] unique = uniqueRows(plan);
    for (Map.Entry<String, String> e : trained.entrySet()) {
      String evalJob = evals.get(e.getKey());
      JsonNode end = await(jobs, o, "eval-" + e.getKey(), evalJob);
      Map<String, Double> m =
          latest(
              jobs,
              evalJob,
              "val_loss,kl_to_teacher,exact_match,top1_agreement,val_ppl,parameters,"
                  + "val_loss_unique,val_loss_several");
      boolean[] h = exactHits(end, unique);
      hits.put(e.getKey(), h);
      int right = 0;
      for (boolean b : h) {
        right += b ? 1 : 0;
      }
      results.add(
          new DemoReport.ModelResult(
              e.getKey(),
              e.getValue(),
              evalJob,
              m.getOrDefault("parameters", 0.0).longValue(),
              m.getOrDefault("val_loss", Double.NaN),
              m.getOrDefault("kl_to_teacher", Double.NaN),
              h.length == 0 ? Double.NaN : (double) right / h.length,
              Map.of(
                  "top1_agreement", m.getOrDefault("top1_agreement", Double.NaN),
                  "val_ppl", m.getOrDefault("val_ppl", Double.NaN),
                  "val_loss_unique", m.getOrDefault("val_loss_unique", Double.NaN),
                  "val_loss_several", m.getOrDefault("val_loss_several", Double.NaN))));
    }
    Map<String, Double> pm =
        latest(
            jobs,
            pass,
            "cache_bytes,cache_bytes_per_position,cache_positions,cache_sequences,"
                + "cache_heldout_kl,cache_heldout_tail_mass,cache_heldout_positions");
    DemoReport.CacheInfo cache =
        new DemoReport.CacheInfo(
            pass,
            plan.topK(),
            plan.shards(),
            pm.getOrDefault("cache_sequences", Double.NaN),
            pm.getOrDefault("cache_positions", Double.NaN),
            pm.getOrDefault("cache_bytes", Double.NaN),
            pm.getOrDefault("cache_bytes_per_position", Double.NaN),
            pm.getOrDefault("cache_heldout_kl", Double.NaN),
            pm.getOrDefault("cache_heldout_tail_mass", Double.NaN),
            pm.getOrDefault("cache_heldout_positions", Double.NaN),
            workersOf(jobs, pass));
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
    long seconds = Duration.between(started, Instant.now()).toSeconds();
    DemoReport.Run run = new DemoReport.Run(plan.seed(), results, hits, cache, seconds);
    List<String> regime =
        new ArrayList<>(plan.regime(results.get(0).parameters(), results.get(1).parameters()));
    regime.add(
        "wall time of this seed's jobs: "
            + seconds
            + " s (teacher and its pass done after "
            + Duration.between(started, passDone).toSeconds()
            + " s) on "
            + Runtime.getRuntime().availableProcessors()
            + " cores, "
            + plan.workers()
            + " workers of "
            + threads
            + " libtorch thread(s)");
    DemoReport.write(out, run, regime, new DemoReport.Curves(trainCe, trainKl, val));
    o.println();
    o.println(DemoReport.table(run));
    o.println(DemoReport.verdict(run));
    o.flush();
    return run;
  }

  /**
   * Which of the evaluation's first {@code evalSamples} held-out examples have one right answer:
   * the per-example results of an evaluation follow the same order.
   */
  static boolean[] uniqueRows(DemoPlan plan) {
    Map<String, Object> d = plan.evaluationDataset();
    int n = (Integer) d.get("num_examples");
    Split split = new Split((Double) d.get("validation_fraction"), plan.seed());
    List<ProceduralExample> all = ProceduralDataset.generate(n, plan.seed());
    List<Boolean> out = new ArrayList<>();
    for (int i = 0; i < all.size() && out.size() < plan.evalSamples(); i++) {
      if (ProceduralDataset.isValidation(split, all.get(i), i)) {
        out.add(all.get(i).unique());
      }
    }
    boolean[] b = new boolean[out.size()];
    for (int i = 0; i < b.length; i++) {
      b[i] = out.get(i);
    }
    return b;
  }

  /**
   * Per held-out prompt with one right answer, whether the model's greedy answer was it: read from
   * the evaluation's per-example results ({@code generations.jsonl} in its output), in order.
   */
  static boolean[] exactHits(JsonNode evalJob, boolean[] unique) throws java.io.IOException {
    String uri = evalJob.path("output_uri").asString("");
    Path dir = Path.of(uri.startsWith("file:") ? uri.substring("file:".length()) : uri);
    Path file = dir.resolve("generations.jsonl");
    List<Boolean> hits = new ArrayList<>();
    for (String line : Files.readAllLines(file)) {
      if (line.isBlank()) {
        continue;
      }
      JsonNode row = JSON.readTree(line);
      int index = row.path("index").asInt();
      if (index < unique.length && unique[index]) {
        hits.add(
            row.path("response")
                .asString("")
                .strip()
                .equals(row.path("reference").asString("").strip()));
      }
    }
    boolean[] b = new boolean[hits.size()];
    for (int i = 0; i < b.length; i++) {
      b[i] = hits.get(i);
    }
    return b;
  }

  private static final tools.jackson.databind.ObjectMapper JSON =
      tools.jackson.databind.json.JsonMapper.builder().build();

  /** The workers that ran a job's attempts (or shards), from its claim events. */
  private static List<String> workersOf(JobsClient jobs, String jobId) {
    List<String> ws = new ArrayList<>();
    java.util.regex.Pattern claimed = java.util.regex.Pattern.compile("worker (\\S+) started");
    JsonNode body = jobs.events(jobId, null, 200);
    for (JsonNode e : body.isArray() ? body : body.path("items")) {
      java.util.regex.Matcher m = claimed.matcher(e.path("message").asString(""));
      if (m.find() && !ws.contains(m.group(1))) {
        ws.add(m.group(1));
      }
    }
    return ws;
  }

  private static String submit(
      JobsClient jobs, PrintWriter o, String label, Map<String, Object> spec) {
    JsonNode job = jobs.submit(spec, null);
    String id = job.path("id").asString();
    o.println("[" + label + "] submitted job " + id);
    o.flush();
    return id;
  }

  private static JsonNode await(JobsClient jobs, PrintWriter o, String label, String id)
      throws InterruptedException {
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
    return end;
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
