package dev.distill.app.console;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import tools.jackson.databind.JsonNode;

/** Renders rows of JSON objects as a plain text table. */
public final class Tables {

  private Tables() {}

  /**
   * @param columns pairs of header and JSON field path (dots for nesting)
   */
  public static void print(PrintWriter out, Iterable<JsonNode> rows, String... columns) {
    List<String[]> cells = new ArrayList<>();
    int n = columns.length / 2;
    String[] header = new String[n];
    for (int c = 0; c < n; c++) {
      header[c] = columns[2 * c];
    }
    cells.add(header);
    for (JsonNode row : rows) {
      String[] line = new String[n];
      for (int c = 0; c < n; c++) {
        line[c] = text(at(row, columns[2 * c + 1]));
      }
      cells.add(line);
    }
    int[] width = new int[n];
    for (String[] line : cells) {
      for (int c = 0; c < n; c++) {
        width[c] = Math.max(width[c], line[c].length());
      }
    }
    for (String[] line : cells) {
      StringBuilder sb = new StringBuilder();
      for (int c = 0; c < n; c++) {
        sb.append(c == 0 ? "" : "  ").append(String.format("%-" + width[c] + "s", line[c]));
      }
      out.println(sb.toString().stripTrailing());
    }
    out.flush();
  }

  static JsonNode at(JsonNode node, String path) {
    JsonNode cur = node;
    for (String part : path.split("\\.")) {
      cur = cur.path(part);
    }
    return cur;
  }

  static String text(JsonNode v) {
    if (v == null || v.isMissingNode() || v.isNull()) {
      return "-";
    }
    if (v.isFloatingPointNumber()) {
      return String.format(Locale.ROOT, "%.4g", v.asDouble()); // a dot whatever the locale
    }
    return v.isValueNode() ? v.asText() : v.toString();
  }
}
