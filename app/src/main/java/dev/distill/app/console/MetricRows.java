package dev.distill.app.console;

import dev.distill.app.control.ApiClient;
import java.util.ArrayList;
import java.util.List;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;

/** Flattens the metrics response into rows {name, step, value}, whatever its grouping. */
public final class MetricRows {

  private MetricRows() {}

  /**
   * Accepts {@code {"series": {"loss": [{"step":1,"value":2.0}, ...]}}}, {@code {"items": [{"name",
   * "step", "value"}]}} or a bare array of points.
   */
  public static List<JsonNode> flatten(JsonNode body) {
    List<JsonNode> rows = new ArrayList<>();
    JsonNode series = body.path("series");
    if (series.isObject()) {
      for (var e : series.properties()) {
        JsonNode points = e.getValue().isArray() ? e.getValue() : e.getValue().path("points");
        for (JsonNode p : points) {
          ObjectNode row = ApiClient.JSON.createObjectNode();
          row.put("name", e.getKey());
          row.set("step", p.path("step"));
          row.set("value", p.path("value"));
          rows.add(row);
        }
      }
      return rows;
    }
    JsonNode items = body.isArray() ? body : body.path("items");
    items.forEach(rows::add);
    return rows;
  }

  /** A metric value for people: integers as such (counts), else four significant digits. */
  public static String format(double v) {
    return v == Math.rint(v) && Math.abs(v) < 1e15
        ? Long.toString((long) v)
        : String.format(java.util.Locale.ROOT, "%.4g", v);
  }
}
