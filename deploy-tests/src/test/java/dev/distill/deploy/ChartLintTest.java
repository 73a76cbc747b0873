package dev.distill.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code helm lint --strict}. helm-java's lint takes no values, so the chart is linted as an
 * install gives it: a copy whose values.yaml carries the one required value, the database URL (as
 * {@code --set} would).
 */
class ChartLintTest {

  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  @Test
  void lintStrictPassesOnTheChartAsShipped() {
    LintResult result = new Helm(Repo.chart()).lint().strict().call();
    assertThat(result.isFailed()).as("lint messages: %s", result.getMessages()).isFalse();
  }

  @Test
  void lintFailsWhenADefaultBreaksTheSchema(@TempDir Path tmp) throws IOException {
    Path chart = copyChart(tmp);
    ObjectNode values = (ObjectNode) YAML.readTree(chart.resolve("values.yaml").toFile());
    ((ObjectNode) values.path("service").path("database")).put("url", Rendered.DB_URL);
    ((ObjectNode) values.path("worker")).put("replicas", "two");
    YAML.writeValue(chart.resolve("values.yaml").toFile(), values);
    LintResult result = new Helm(chart).lint().strict().call();
    assertThat(result.isFailed()).isTrue();
    assertThat(String.join("\n", result.getMessages())).contains("replicas");
  }

  /** The chart copied to {@code tmp/distill} (lint names the directory as the chart). */
  static Path copyChart(Path tmp) throws IOException {
    Path src = Repo.chart();
    Path dst = tmp.resolve("distill");
    try (Stream<Path> files = Files.walk(src)) {
      for (Path p : files.toList()) {
        Path t = dst.resolve(src.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(t);
        } else {
          Files.copy(p, t);
        }
      }
    }
    return dst;
  }
}
