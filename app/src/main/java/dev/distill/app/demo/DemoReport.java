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

    StringBuilder md = new StringBuilder();
    md.append("# distill demo report\n\n");
    md.append(table(results)).append('\n');
    md.append(verdict(results)).append("\n\n");
    md.append("## Regime\n\n");
    for (String line : regime) {
      md.append("- ").append(line).append('\n');
    }
    md.append("\n## Curves\n\n![training cross-entropy](" + TRAIN_CE_PNG + ")\n");
    if (!curves.trainKl().isEmpty()) {
      md.append("\n![distilled student: KL to the teacher](" + TRAIN_KL_PNG + ")\n");
    }
    if (!curves.val().isEmpty()) {
      md.append("\n![validation loss](" + VAL_PNG + ")\n");
    }
    Files.writeString(out.resolve("report.md"), md.toString());
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
