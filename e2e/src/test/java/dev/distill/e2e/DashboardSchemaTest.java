package dev.distill.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The dashboards parse against Grafana's dashboard schema: e2e/dashboard-schema/validate.mjs (node)
 * type-checks them against @grafana/schema, the TypeScript types Grafana generates from its CUE
 * schema (the package has no runtime validator), with the TypeScript compiler. Its node_modules
 * come from {@code npm ci} in .ci/run (package-lock.json pins both packages).
 */
class DashboardSchemaTest {

  record Run(int exit, String out) {}

  static Path tool() {
    Path dir = Dashboards.dir().resolve("../../../../e2e/dashboard-schema").normalize();
    assertThat(dir.resolve("node_modules/@grafana/schema/package.json"))
        .as("npm ci --prefix e2e/dashboard-schema (.ci/run does) has not run")
        .isRegularFile();
    return dir;
  }

  static Run validate(List<Path> files) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("node", tool().resolve("validate.mjs").toString()));
    files.forEach(f -> cmd.add(f.toString()));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("validate.mjs finished").isTrue();
    return new Run(p.exitValue(), out);
  }

  static List<Path> dashboards() throws Exception {
    try (var s = Files.list(Dashboards.dir())) {
      return s.filter(f -> f.toString().endsWith(".json")).sorted().toList();
    }
  }

  @Test
  void everyDashboardMatchesGrafanasSchema() throws Exception {
    List<Path> files = dashboards();
    assertThat(files).hasSize(3);
    Run r = validate(files);
    assertThat(r.exit()).as(r.out()).isZero();
    assertThat(r.out()).contains("3 dashboard(s) match @grafana/schema");
  }

  /** A wrong enum value, an unknown field and a wrong type are each reported with the panel. */
  @Test
  void aBrokenDashboardIsRefusedNamingThePanel(@TempDir Path tmp) throws Exception {
    String queue = Files.readString(Dashboards.dir().resolve("queue.json"));
    String[][] breaks = {
      {"\"drawStyle\": \"line\"", "\"drawStyle\": \"lines\"", "lines"},
      {"\"gridPos\"", "\"gridpos\"", "gridpos"},
      {"\"schemaVersion\": 39", "\"schemaVersion\": \"39\"", "schemaVersion"},
    };
    for (String[] b : breaks) {
      String broken = queue.replaceFirst(java.util.regex.Pattern.quote(b[0]), b[1]);
      assertThat(broken).isNotEqualTo(queue);
      Path f = tmp.resolve("queue.json");
      Files.writeString(f, broken);
      Run r = validate(List.of(f));
      assertThat(r.exit()).as(b[1]).isEqualTo(1);
      assertThat(r.out()).as(b[1]).contains(b[2]).contains(f.toString());
    }
  }
}
