package dev.distill.app.worker;

import dev.distill.trainer.recipe.Charts;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.data.category.DefaultCategoryDataset;

/** The pictures of a job's output, drawn with jfreechart as PNG files. */
final class PngCharts implements Charts {

  @Override
  public boolean histogram(Path png, String title, List<String> binLabels, long[] counts)
      throws IOException {
    DefaultCategoryDataset data = new DefaultCategoryDataset();
    for (int i = 0; i < counts.length; i++) {
      data.addValue(counts[i], "examples", binLabels.get(i));
    }
    JFreeChart chart =
        ChartFactory.createBarChart(
            title, "score", "examples", data, PlotOrientation.VERTICAL, false, false, false);
    CategoryPlot plot = chart.getCategoryPlot();
    plot.setBackgroundPaint(Color.WHITE);
    plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
    BarRenderer renderer = (BarRenderer) plot.getRenderer();
    renderer.setSeriesPaint(0, new Color(0x1f77b4));
    ChartUtils.saveChartAsPNG(png.toFile(), chart, 800, 450);
    return true;
  }
}
