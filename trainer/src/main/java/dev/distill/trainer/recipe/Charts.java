package dev.distill.trainer.recipe;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Draws the pictures a run puts into its output; the application provides it (the library draws
 * nothing itself). {@link #NONE} draws nothing.
 */
public interface Charts {

  /**
   * A bar chart of counts per bin, written as a PNG.
   *
   * @param png the file to write
   * @param title the chart's title
   * @param binLabels one label per bar
   * @param counts one count per bar
   * @return whether a file was written
   */
  boolean histogram(Path png, String title, List<String> binLabels, long[] counts)
      throws IOException;

  Charts NONE = (png, title, labels, counts) -> false;
}
