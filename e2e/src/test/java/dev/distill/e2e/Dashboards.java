package dev.distill.e2e;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The Grafana dashboards of the repository (helm/distill/files/grafana/*.json) as the queries they
 * run: every target of every panel (rows' panels too) and every query variable, with the
 * dashboard's variables and Grafana's macros substituted the way Grafana does.
 */
final class Dashboards {

  static final JsonMapper JSON = JsonMapper.builder().build();

  /** One query of one panel (or variable). */
  record Query(String dashboard, String panel, String refId, String kind, String text) {
    boolean isPromQl() {
      return kind.equals("prometheus");
    }

    @Override
    public String toString() {
      return dashboard + " / " + panel + " / " + refId + ": " + text;
    }
  }

  private Dashboards() {}

  static Path dir() {
    for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
      Path g = d.resolve("helm/distill/files/grafana");
      if (Files.isDirectory(g)) {
        return g;
      }
    }
    throw new IllegalStateException(
        "no helm/distill/files/grafana above " + Path.of("").toAbsolutePath());
  }

  static Map<String, JsonNode> all() throws IOException {
    Map<String, JsonNode> out = new TreeMap<>();
    try (Stream<Path> files = Files.list(dir())) {
      for (Path f : files.filter(p -> p.toString().endsWith(".json")).sorted().toList()) {
        out.put(f.getFileName().toString(), JSON.readTree(f.toFile()));
      }
    }
    return out;
  }

  /** Every panel target: its data source type and its raw query text (expr or rawSql). */
  static List<Query> panelQueries(String name, JsonNode dashboard) {
    List<Query> out = new ArrayList<>();
    for (JsonNode p : dashboard.path("panels")) {
      List<JsonNode> panels = new ArrayList<>(List.of(p));
      p.path("panels").forEach(panels::add);
      for (JsonNode panel : panels) {
        for (JsonNode t : panel.path("targets")) {
          String type =
              t.path("datasource")
                  .path("type")
                  .asString(panel.path("datasource").path("type").asString());
          String text =
              type.equals("prometheus") ? t.path("expr").asString() : t.path("rawSql").asString();
          out.add(
              new Query(
                  name,
                  panel.path("title").asString(),
                  t.path("refId").asString(),
                  kind(type),
                  text));
        }
      }
    }
    return out;
  }

  /** The query variables (their own queries must answer too). */
  static List<Query> variableQueries(String name, JsonNode dashboard) {
    List<Query> out = new ArrayList<>();
    for (JsonNode v : dashboard.path("templating").path("list")) {
      if (!v.path("type").asString().equals("query")) {
        continue;
      }
      JsonNode q = v.path("query");
      String text = q.isObject() ? q.path("query").asString() : q.asString();
      out.add(
          new Query(
              name,
              "variable $" + v.path("name").asString(),
              "-",
              kind(v.path("datasource").path("type").asString()),
              text));
    }
    return out;
  }

  private static String kind(String datasourceType) {
    return switch (datasourceType) {
      case "prometheus" -> "prometheus";
      case "grafana-postgresql-datasource", "postgres" -> "postgres";
      default ->
          throw new IllegalArgumentException("unexpected data source type " + datasourceType);
    };
  }

  /** {@code $name} and {@code ${name}} replaced by the value (longest names first). */
  static String substitute(String text, Map<String, String> values) {
    String out = text;
    List<String> names = new ArrayList<>(values.keySet());
    names.sort((a, b) -> b.length() - a.length());
    for (String n : names) {
      out = out.replace("${" + n + "}", values.get(n)).replace("$" + n, values.get(n));
    }
    return out;
  }

  private static final Pattern TIME_FILTER = Pattern.compile("\\$__timeFilter\\(([^)]+)\\)");
  private static final Pattern TIME_GROUP_ALIAS =
      Pattern.compile("\\$__timeGroupAlias\\(([^,]+),\\s*'?([0-9]+)([smhd])'?\\)");

  /**
   * Grafana's PostgreSQL macros as its data source expands them, for the range {@code from} to
   * {@code now()}: {@code $__timeFilter(c)} and {@code $__timeGroupAlias(c, 'n[smhd]')}.
   */
  static String expandSqlMacros(String sql, String fromInterval) {
    Matcher f = TIME_FILTER.matcher(sql);
    String out =
        f.replaceAll(
            m ->
                Matcher.quoteReplacement(
                    m.group(1).trim()
                        + " BETWEEN now() - interval '"
                        + fromInterval
                        + "' AND now()"));
    Matcher g = TIME_GROUP_ALIAS.matcher(out);
    out =
        g.replaceAll(
            m -> {
              long seconds =
                  Long.parseLong(m.group(2))
                      * switch (m.group(3)) {
                        case "s" -> 1;
                        case "m" -> 60;
                        case "h" -> 3600;
                        default -> 86400;
                      };
              return Matcher.quoteReplacement(
                  "floor(extract(epoch from "
                      + m.group(1).trim()
                      + ")/"
                      + seconds
                      + ")*"
                      + seconds
                      + " AS \"time\"");
            });
    if (out.contains("$__")) {
      throw new IllegalArgumentException("a Grafana macro this test does not expand: " + out);
    }
    return out;
  }
}
