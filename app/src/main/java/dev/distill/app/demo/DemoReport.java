package dev.distill.app.demo;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.SeriesRenderingOrder;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * Writes the demo's results: {@code report.json} (one object per model with {@code val_loss},
 * {@code kl_to_teacher}, {@code exact_match}), {@code report.md} (the table, the regime and the
 * verdict) and PNG curves, one quantity per chart ({@link Curves}).
 */
public final class DemoReport {

  /** One model's results. */
  public record ModelResult(
      String name,
      String jobId,
      String evalJobId,
      long parameters,
      double valLoss,
      double klToTeacher,
      double exactMatch,
      Map<String, Double> other) {}

  /**
   * What the teacher pass wrote.
   *
   * @param heldOutKl KL(full teacher || the cache's reconstruction) per held-out position, nats
   * @param workers the workers that ran the pass
   */
  public record CacheInfo(
      String jobId,
      int topK,
      int shards,
      double sequences,
      double positions,
      double bytes,
      double bytesPerPosition,
      double heldOutKl,
      double heldOutTailMass,
      double heldOutPositions,
      List<String> workers) {}

  /**
   * One seed's run.
   *
   * @param models teacher, distilled, baseline (in that order)
   * @param hits per model, per held-out prompt with one right answer, whether its greedy answer was
   *     right (the same prompts in the same order for every model)
   * @param seconds wall time of the seed's jobs
   */
  public record Run(
      long seed,
      List<ModelResult> models,
      Map<String, boolean[]> hits,
      CacheInfo cache,
      long seconds) {
    ModelResult model(String name) {
      return find(models, name);
    }
  }

  /** A named series of (step, value) points. */
  public record Curve(String name, List<double[]> points) {}

  /**
   * The curves of the report, each chart one quantity so that its lines compare: the training
   * cross-entropy of every model (the distilled student's {@code ce} on the same labels, not its KD
   * loss), the distilled student's KL to the teacher on its own axis, and the validation loss.
   *
   * @param trainCe training cross-entropy per model (series {@value #CE})
   * @param trainKl the distilled student's KL to the teacher (series {@value #KL}); may be empty
   * @param val validation loss per model (series {@code val_loss}); may be empty
   */
  public record Curves(List<Curve> trainCe, List<Curve> trainKl, List<Curve> val) {}

  /** The training cross-entropy series, reported by every training job. */
  public static final String CE = "ce";

  /** The distillation term's series, reported by distill jobs. */
  public static final String KL = "kl";

  private static final Map<String, Color> COLOURS =
      Map.of(
          "teacher", new Color(0x1f77b4),
          "distilled", new Color(0xd62728),
          "baseline", new Color(0x2ca02c));

  static final String TRAIN_CE_PNG = "train-ce.png";
  static final String TRAIN_KL_PNG = "train-kl.png";
  static final String VAL_PNG = "val-loss.png";

  private static final ObjectMapper JSON = JsonMapper.builder().build();

  static {
    if (System.getProperty("java.awt.headless") == null) {
      System.setProperty("java.awt.headless", "true");
    }
  }

  private DemoReport() {}

  /**
   * @param out the output folder (created)
   * @param results teacher, distilled, baseline (in that order)
   * @param regime lines describing sizes, data and settings under which the comparison holds
   * @param curves what the charts draw
   * @return the markdown text written to report.md
   */
  public static String write(
      Path out, List<ModelResult> results, List<String> regime, Curves curves) throws IOException {
    Files.createDirectories(out);
    Map<String, Object> json = new LinkedHashMap<>();
    for (ModelResult r : results) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("job_id", r.jobId());
      m.put("eval_job_id", r.evalJobId());
      m.put("parameters", r.parameters());
      m.put("val_loss", r.valLoss());
      m.put("kl_to_teacher", r.klToTeacher());
      m.put("exact_match", r.exactMatch());
      m.putAll(r.other());
      json.put(r.name(), m);
    }
    json.put("regime", regime);
    JSON.writerWithDefaultPrettyPrinter().writeValue(out.resolve("report.json").toFile(), json);

    charts(out, curves);

    StringBuilder md = new StringBuilder();
    md.append("# distill demo report\n\n");
    md.append(table(results)).append('\n');
    md.append(verdict(results)).append("\n\n");
    return writeMarkdown(out, md, regime, curves);
  }

  /** Ends {@code md} with the regime and the chart links, and writes it as report.md. */
  private static String writeMarkdown(
      Path out, StringBuilder md, List<String> regime, Curves curves) throws IOException {
    md.append("## Regime\n\n");
    for (String line : regime) {
      md.append("- ").append(line).append('\n');
    }
    md.append(chartLinks(curves));
    Files.writeString(out.resolve("report.md"), md.toString());
    return md.toString();
  }

  private static void charts(Path out, Curves curves) throws IOException {
    chart(
        out.resolve(TRAIN_CE_PNG),
        "Training cross-entropy (labels of the training batch)",
        "cross-entropy",
        curves.trainCe());
    if (!curves.trainKl().isEmpty()) {
      chart(
          out.resolve(TRAIN_KL_PNG),
          "Distilled student: KL(teacher || student) on the training batch",
          "KL",
          curves.trainKl());
    }
    if (!curves.val().isEmpty()) {
      chart(out.resolve(VAL_PNG), "Validation cross-entropy", "val_loss", curves.val());
    }
  }

  private static String chartLinks(Curves curves) {
    StringBuilder md = new StringBuilder();
    md.append("\n## Curves\n\n![training cross-entropy](" + TRAIN_CE_PNG + ")\n");
    if (!curves.trainKl().isEmpty()) {
      md.append("\n![distilled student: KL to the teacher](" + TRAIN_KL_PNG + ")\n");
    }
    if (!curves.val().isEmpty()) {
      md.append("\n![validation loss](" + VAL_PNG + ")\n");
    }
    return md.toString();
  }

  private static String optional(Double v) {
    return v == null || v.isNaN() ? "-" : String.format(Locale.ROOT, "%.4f", v);
  }

  /** The results as a markdown table. */
  public static String table(List<ModelResult> results) {
    StringBuilder t = new StringBuilder();
    t.append(
        "| model | parameters | val loss | val loss, one answer | val loss, several answers"
            + " | KL to teacher | exact match |\n");
    t.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (ModelResult r : results) {
      t.append(
          String.format(
              Locale.ROOT,
              "| %s | %,d | %.4f | %s | %s | %.4f | %.1f%% |%n",
              r.name(),
              r.parameters(),
              r.valLoss(),
              optional(r.other().get("val_loss_unique")),
              optional(r.other().get("val_loss_several")),
              r.klToTeacher(),
              100 * r.exactMatch()));
    }
    return t.toString();
  }

  /**
   * Compares the distilled student with the baseline, and says whether the premise held: a teacher
   * better than both students on the same validation data.
   */
  public static String verdict(List<ModelResult> results) {
    ModelResult teacher = find(results, "teacher");
    ModelResult distilled = find(results, "distilled");
    ModelResult baseline = find(results, "baseline");
    if (distilled == null || baseline == null) {
      return "";
    }
    double gain = baseline.valLoss() - distilled.valLoss();
    String out =
        String.format(
            Locale.ROOT,
            "The distilled student %s the baseline on validation loss: %.4f vs %.4f (%+.4f).",
            gain > 0 ? "beats" : "does not beat",
            distilled.valLoss(),
            baseline.valLoss(),
            -gain);
    if (teacher != null) {
      boolean better =
          teacher.valLoss() < distilled.valLoss() && teacher.valLoss() < baseline.valLoss();
      out +=
          String.format(
              Locale.ROOT,
              better
                  ? " The teacher (%.4f) is better than both students, so the student learnt from a"
                      + " better model."
                  : " The teacher (%.4f) is not better than both students: the comparison does not"
                      + " show a better teacher passing on what it knows.",
              teacher.valLoss());
    }
    Double dUnique = distilled.other().get("val_loss_unique");
    Double bUnique = baseline.other().get("val_loss_unique");
    Double dSeveral = distilled.other().get("val_loss_several");
    Double bSeveral = baseline.other().get("val_loss_several");
    if (dUnique != null && bUnique != null && dSeveral != null && bSeveral != null) {
      out +=
          String.format(
              Locale.ROOT,
              " By kind of task, distilled vs baseline: several valid answers %.4f vs %.4f (%+.4f),"
                  + " one answer %.4f vs %.4f (%+.4f).",
              dSeveral,
              bSeveral,
              dSeveral - bSeveral,
              dUnique,
              bUnique,
              dUnique - bUnique);
    }
    return out;
  }

  /** The metrics compared across models and seeds, in the report's order. */
  static final List<String> METRICS =
      List.of("val_loss", "val_loss_unique", "val_loss_several", "kl_to_teacher", "exact_match");

  /** A model's value of one of {@link #METRICS}; NaN when absent. */
  static double metric(ModelResult r, String name) {
    return switch (name) {
      case "val_loss" -> r.valLoss();
      case "kl_to_teacher" -> r.klToTeacher();
      case "exact_match" -> r.exactMatch();
      default -> r.other().getOrDefault(name, Double.NaN);
    };
  }

  private static int count(boolean[] hits) {
    int n = 0;
    for (boolean b : hits) {
      n += b ? 1 : 0;
    }
    return n;
  }

  /** The exact match of one model with its 95% Wilson interval, or null without prompts. */
  static DemoStats.Interval exactMatch(Run run, String model) {
    boolean[] h = run.hits().get(model);
    return h == null || h.length == 0 ? null : DemoStats.wilson(count(h), h.length, DemoStats.Z95);
  }

  /** Distilled minus baseline exact match on the same prompts, 95% paired interval; or null. */
  static DemoStats.Interval exactMatchGain(Run run) {
    boolean[] d = run.hits().get("distilled");
    boolean[] b = run.hits().get("baseline");
    return d == null || b == null || d.length == 0 || d.length != b.length
        ? null
        : DemoStats.pairedDifference(d, b, DemoStats.Z95);
  }

  /** One seed's results as a markdown table, exact match with its 95% interval. */
  public static String table(Run run) {
    StringBuilder t = new StringBuilder();
    t.append(
        "| model | parameters | val loss | val loss, one answer | val loss, several answers"
            + " | KL to teacher | exact match (95% interval) |\n");
    t.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (ModelResult r : run.models()) {
      DemoStats.Interval em = exactMatch(run, r.name());
      t.append(
          String.format(
              Locale.ROOT,
              "| %s | %,d | %.4f | %s | %s | %.4f | %s |%n",
              r.name(),
              r.parameters(),
              r.valLoss(),
              optional(r.other().get("val_loss_unique")),
              optional(r.other().get("val_loss_several")),
              r.klToTeacher(),
              em == null
                  ? "-"
                  : String.format(
                      Locale.ROOT,
                      "%.1f%% (%.1f-%.1f)",
                      100 * em.estimate(),
                      100 * em.low(),
                      100 * em.high())));
    }
    return t.toString();
  }

  /** The exact-match sentence: how many prompts, and the paired difference of the students. */
  static String exactMatchSentence(Run run) {
    boolean[] d = run.hits().get("distilled");
    DemoStats.Interval gain = exactMatchGain(run);
    if (d == null || gain == null) {
      return "";
    }
    int dOnly = 0;
    int bOnly = 0;
    boolean[] b = run.hits().get("baseline");
    for (int i = 0; i < d.length; i++) {
      dOnly += d[i] && !b[i] ? 1 : 0;
      bOnly += !d[i] && b[i] ? 1 : 0;
    }
    return String.format(
        Locale.ROOT,
        "Exact match on %d held-out prompts with one right answer (95%% Wilson intervals in the"
            + " table). Distilled minus baseline on the same prompts: %+.1f points, 95%% interval"
            + " %+.1f to %+.1f (paired: the Wald interval of McNemar's setting, from the %d prompts"
            + " only the distilled student got right and the %d only the baseline got right)%s.",
        d.length,
        100 * gain.estimate(),
        100 * gain.low(),
        100 * gain.high(),
        dOnly,
        bOnly,
        gain.low() > 0
            ? ": the distilled student is better beyond noise"
            : gain.high() < 0
                ? ": the baseline is better beyond noise"
                : ": the interval holds 0, so on this seed exact match does not separate them");
  }

  /** Whether the teacher's loss is below both students' on both kinds of task (and overall). */
  static boolean teacherBetterOnBothKinds(Run run) {
    ModelResult t = run.model("teacher");
    if (t == null) {
      return false;
    }
    for (String m : List.of("val_loss", "val_loss_unique", "val_loss_several")) {
      double tv = metric(t, m);
      for (String s : List.of("distilled", "baseline")) {
        ModelResult r = run.model(s);
        if (r == null || !(tv < metric(r, m))) {
          return false;
        }
      }
    }
    return true;
  }

  /** One seed's verdict: the validation-loss verdict, the kinds of task and exact match. */
  public static String verdict(Run run) {
    String v = verdict(run.models());
    ModelResult t = run.model("teacher");
    if (t != null && !Double.isNaN(metric(t, "val_loss_unique"))) {
      v +=
          teacherBetterOnBothKinds(run)
              ? " The teacher is better than both students on both kinds of task."
              : " The teacher is not better than both students on both kinds of task.";
    }
    String em = exactMatchSentence(run);
    return em.isEmpty() ? v : v + " " + em;
  }

  /** The cache's lines for the report. */
  static String cacheLine(CacheInfo c) {
    if (c == null) {
      return "";
    }
    return String.format(
        Locale.ROOT,
        "Teacher cache (job %s, teacher_pass top_k %d in %d shards, run by %s): %,.0f sequences,"
            + " %,.0f loss positions, %,.0f bytes (%.1f bytes per position). Approximation error:"
            + " KL(full teacher || the cache's reconstruction) %.2e nats per position on %,.0f"
            + " held-out positions, mean tail mass outside the top %d %.2e.",
        c.jobId(),
        c.topK(),
        c.shards(),
        c.workers().isEmpty() ? "?" : String.join(" and ", c.workers()),
        c.sequences(),
        c.positions(),
        c.bytes(),
        c.bytesPerPosition(),
        c.heldOutKl(),
        c.heldOutPositions(),
        c.topK(),
        c.heldOutTailMass());
  }

  private static Map<String, Object> runJson(Run run) {
    Map<String, Object> json = new LinkedHashMap<>();
    json.put("seed", run.seed());
    for (ModelResult r : run.models()) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("job_id", r.jobId());
      m.put("eval_job_id", r.evalJobId());
      m.put("parameters", r.parameters());
      m.put("val_loss", r.valLoss());
      m.put("kl_to_teacher", r.klToTeacher());
      m.put("exact_match", r.exactMatch());
      DemoStats.Interval em = exactMatch(run, r.name());
      if (em != null) {
        m.put("exact_match_prompts", run.hits().get(r.name()).length);
        m.put("exact_match_low95", em.low());
        m.put("exact_match_high95", em.high());
      }
      m.putAll(r.other());
      json.put(r.name(), m);
    }
    DemoStats.Interval gain = exactMatchGain(run);
    if (gain != null) {
      json.put(
          "exact_match_gain",
          Map.of("estimate", gain.estimate(), "low95", gain.low(), "high95", gain.high()));
    }
    CacheInfo c = run.cache();
    if (c != null) {
      Map<String, Object> cj = new LinkedHashMap<>();
      cj.put("job_id", c.jobId());
      cj.put("top_k", c.topK());
      cj.put("shards", c.shards());
      cj.put("sequences", c.sequences());
      cj.put("positions", c.positions());
      cj.put("bytes", c.bytes());
      cj.put("bytes_per_position", c.bytesPerPosition());
      cj.put("heldout_kl", c.heldOutKl());
      cj.put("heldout_tail_mass", c.heldOutTailMass());
      cj.put("heldout_positions", c.heldOutPositions());
      cj.put("workers", c.workers());
      json.put("teacher_cache", cj);
    }
    json.put("seconds", run.seconds());
    return json;
  }

  /** Writes one seed's report (report.json, report.md, charts) and returns the markdown. */
  public static String write(Path out, Run run, List<String> regime, Curves curves)
      throws IOException {
    Files.createDirectories(out);
    Map<String, Object> json = runJson(run);
    json.put("regime", regime);
    JSON.writerWithDefaultPrettyPrinter().writeValue(out.resolve("report.json").toFile(), json);
    charts(out, curves);
    StringBuilder md = new StringBuilder();
    md.append("# distill demo report\n\n");
    md.append(table(run)).append('\n');
    md.append(verdict(run)).append("\n\n");
    String cache = cacheLine(run.cache());
    if (!cache.isEmpty()) {
      md.append(cache).append("\n\n");
    }
    md.append(
        "One seed is one draw: the same plan with another `--seed` gives other data and"
            + " initialisations, and its numbers move (see `docs/demo.md`); `--seeds N` runs N seeds"
            + " and reports their mean and spread.\n\n");
    return writeMarkdown(out, md, regime, curves);
  }

  /**
   * Several seeds aggregated.
   *
   * @param perModel per model, per metric of {@link #METRICS}, the spread over seeds
   * @param gain per metric, distilled minus baseline: its spread over seeds
   * @param gains per metric, distilled minus baseline on each seed, in the runs' order
   * @param teacherBetterEverySeed the teacher's loss below both students' on both kinds of task on
   *     every seed
   * @param gainBeyondSpread on every seed the distilled student's val loss is below the baseline's
   *     by more than the seed-to-seed standard deviation of that difference
   */
  public record SeedsSummary(
      List<Long> seeds,
      Map<String, Map<String, DemoStats.Spread>> perModel,
      Map<String, DemoStats.Spread> gain,
      Map<String, double[]> gains,
      boolean teacherBetterEverySeed,
      boolean gainBeyondSpread) {}

  public static SeedsSummary aggregate(List<Run> runs) {
    if (runs.isEmpty()) {
      throw new IllegalArgumentException("no runs");
    }
    Map<String, Map<String, DemoStats.Spread>> perModel = new LinkedHashMap<>();
    for (String model : List.of("teacher", "distilled", "baseline")) {
      Map<String, DemoStats.Spread> m = new LinkedHashMap<>();
      for (String metric : METRICS) {
        double[] xs = runs.stream().mapToDouble(r -> metric(r.model(model), metric)).toArray();
        m.put(metric, DemoStats.spread(xs));
      }
      perModel.put(model, m);
    }
    Map<String, DemoStats.Spread> gain = new LinkedHashMap<>();
    Map<String, double[]> gains = new LinkedHashMap<>();
    for (String metric : METRICS) {
      double[] d =
          runs.stream()
              .mapToDouble(
                  r -> metric(r.model("distilled"), metric) - metric(r.model("baseline"), metric))
              .toArray();
      gains.put(metric, d);
      gain.put(metric, DemoStats.spread(d));
    }
    boolean teacher = runs.stream().allMatch(DemoReport::teacherBetterOnBothKinds);
    DemoStats.Spread g = gain.get("val_loss");
    boolean beyond = runs.size() > 1;
    for (double d : gains.get("val_loss")) {
      beyond &= -d > g.sd();
    }
    return new SeedsSummary(
        runs.stream().map(Run::seed).toList(), perModel, gain, gains, teacher, beyond);
  }

  private static String meanSd(DemoStats.Spread s, boolean percent) {
    double f = percent ? 100 : 1;
    return String.format(
        Locale.ROOT, percent ? "%.1f%% ± %.1f" : "%.4f ± %.4f", f * s.mean(), f * s.sd());
  }

  /** The summary of several seeds in words, with the tables. */
  public static String seedsSummary(List<Run> runs) {
    SeedsSummary s = aggregate(runs);
    StringBuilder md = new StringBuilder();
    md.append(
        String.format(
            Locale.ROOT,
            "Mean ± standard deviation over %d seeds (%s):%n%n",
            runs.size(),
            s.seeds().stream().map(String::valueOf).reduce((a, b) -> a + ", " + b).orElse("")));
    md.append(
        "| model | val loss | val loss, one answer | val loss, several answers | KL to teacher"
            + " | exact match |\n| --- | ---: | ---: | ---: | ---: | ---: |\n");
    for (var e : s.perModel().entrySet()) {
      md.append("| ").append(e.getKey());
      for (String metric : METRICS) {
        md.append(" | ").append(meanSd(e.getValue().get(metric), metric.equals("exact_match")));
      }
      md.append(" |\n");
    }
    md.append("| distilled − baseline");
    for (String metric : METRICS) {
      md.append(" | ").append(meanSd(s.gain().get(metric), metric.equals("exact_match")));
    }
    md.append(" |\n\nPer seed, distilled − baseline:\n\n");
    md.append(
        "| seed | val loss | one answer | several answers | KL to teacher | exact match (95%"
            + " paired interval) | teacher better on both kinds |\n"
            + "| --- | ---: | ---: | ---: | ---: | ---: | --- |\n");
    for (int i = 0; i < runs.size(); i++) {
      Run r = runs.get(i);
      DemoStats.Interval g = exactMatchGain(r);
      md.append(
          String.format(
              Locale.ROOT,
              "| %d | %+.4f | %+.4f | %+.4f | %+.4f | %s | %s |%n",
              r.seed(),
              s.gains().get("val_loss")[i],
              s.gains().get("val_loss_unique")[i],
              s.gains().get("val_loss_several")[i],
              s.gains().get("kl_to_teacher")[i],
              g == null
                  ? "-"
                  : String.format(
                      Locale.ROOT,
                      "%+.1f (%+.1f to %+.1f)",
                      100 * g.estimate(),
                      100 * g.low(),
                      100 * g.high()),
              teacherBetterOnBothKinds(r) ? "yes" : "no"));
    }
    DemoStats.Spread g = s.gain().get("val_loss");
    md.append('\n');
    md.append(
        String.format(
            Locale.ROOT,
            "In words: over these %d seeds the distilled student's validation loss is %.4f below the"
                + " baseline's on average, and that gain varies by %.4f (standard deviation) from"
                + " seed to seed, between %.4f and %.4f. %s %s The exact-match difference is"
                + " %+.1f points on average (seed-to-seed standard deviation %.1f); each seed's"
                + " own 95%% interval is in the table above.",
            runs.size(),
            -g.mean(),
            g.sd(),
            -g.max(),
            -g.min(),
            s.gainBeyondSpread()
                ? "On every seed the gain is larger than that spread, so it is not seed noise."
                : "Not on every seed is the gain larger than that spread.",
            s.teacherBetterEverySeed()
                ? "On every seed the teacher is better than both students on both kinds of task."
                : "On some seed the teacher is not better than both students on both kinds of task.",
            100 * s.gain().get("exact_match").mean(),
            100 * s.gain().get("exact_match").sd()));
    return md.toString();
  }

  /** Writes the report of several seeds (each seed's own report is in its folder). */
  public static String writeSeeds(Path out, List<Run> runs, List<String> regime)
      throws IOException {
    Files.createDirectories(out);
    SeedsSummary s = aggregate(runs);
    Map<String, Object> json = new LinkedHashMap<>();
    json.put("seeds", s.seeds());
    Map<String, Object> models = new LinkedHashMap<>();
    for (var e : s.perModel().entrySet()) {
      Map<String, Object> m = new LinkedHashMap<>();
      e.getValue().forEach((k, v) -> m.put(k, Map.of("mean", v.mean(), "sd", v.sd())));
      models.put(e.getKey(), m);
    }
    json.put("models", models);
    Map<String, Object> gain = new LinkedHashMap<>();
    s.gain().forEach((k, v) -> gain.put(k, Map.of("mean", v.mean(), "sd", v.sd())));
    json.put("distilled_minus_baseline", gain);
    json.put("teacher_better_every_seed", s.teacherBetterEverySeed());
    json.put("gain_beyond_spread", s.gainBeyondSpread());
    json.put("runs", runs.stream().map(DemoReport::runJson).toList());
    json.put("regime", regime);
    JSON.writerWithDefaultPrettyPrinter().writeValue(out.resolve("report.json").toFile(), json);
    StringBuilder md = new StringBuilder("# distill demo report, " + runs.size() + " seeds\n\n");
    md.append(seedsSummary(runs)).append("\n\n## Regime\n\n");
    for (String line : regime) {
      md.append("- ").append(line).append('\n');
    }
    md.append("\nEach seed's own report: ");
    md.append(
        runs.stream()
            .map(r -> "[seed " + r.seed() + "](seed-" + r.seed() + "/report.md)")
            .reduce((a, b) -> a + ", " + b)
            .orElse(""));
    md.append('\n');
    Files.writeString(out.resolve("report.md"), md.toString());
    return md.toString();
  }

  private static ModelResult find(List<ModelResult> results, String name) {
    return results.stream().filter(r -> r.name().equals(name)).findFirst().orElse(null);
  }

  private static void chart(Path file, String title, String yLabel, List<Curve> curves)
      throws IOException {
    XYSeriesCollection data = new XYSeriesCollection();
    for (Curve c : curves) {
      XYSeries s = new XYSeries(c.name(), false, true);
      for (double[] p : c.points()) {
        s.add(p[0], p[1]);
      }
      data.addSeries(s);
    }
    JFreeChart chart =
        ChartFactory.createXYLineChart(
            title, "step", yLabel, data, PlotOrientation.VERTICAL, true, false, false);
    XYPlot plot = chart.getXYPlot();
    plot.setBackgroundPaint(Color.WHITE);
    plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
    plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
    // the first curve (the teacher, which trains longest) underneath, so the students stay visible
    plot.setSeriesRenderingOrder(SeriesRenderingOrder.FORWARD);
    XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, false);
    List<Color> colours =
        new ArrayList<>(List.of(new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c)));
    for (int i = 0; i < curves.size(); i++) {
      // a model keeps its colour from chart to chart
      Color known = COLOURS.get(curves.get(i).name());
      renderer.setSeriesPaint(i, known != null ? known : colours.get(i % colours.size()));
      renderer.setSeriesStroke(i, new BasicStroke(2f));
    }
    plot.setRenderer(renderer);
    ChartUtils.saveChartAsPNG(file.toFile(), chart, 900, 500);
  }
}
