package dev.distill.app.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code distill cluster} refuses bad options with one line naming the option, before it starts
 * anything (the cluster itself runs in e2e's DashboardQueriesTest).
 */
class ClusterCommandTest {

  @TempDir Path tmp;

  @ParameterizedTest(name = "{0} {1}")
  @CsvSource({
    "--workers, -1, '--workers must be 0 or more, was -1'",
    "--port, 0, '--port must be 1..65535, was 0'",
    "--prometheus-port, 70000, '--prometheus-port must be 1..65535, was 70000'",
    "--scrape-interval, 0, '--scrape-interval must be positive, was 0'",
  })
  void aBadOptionIsOneLineNamingIt(String option, String value, String message) {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream old = System.err;
    int code;
    try {
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      code = DistillCli.execute("cluster", "--home", tmp.toString(), option, value);
    } finally {
      System.setErr(old);
    }
    String line = err.toString(StandardCharsets.UTF_8).strip();
    assertThat(code).isNotZero();
    assertThat(line).isEqualTo("distill: " + message);
    assertThat(tmp.resolve("cluster")).doesNotExist();
  }
}
