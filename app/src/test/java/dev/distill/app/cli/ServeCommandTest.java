package dev.distill.app.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code distill serve} refuses bad options with one line naming the option, before loading
 * anything.
 */
class ServeCommandTest {

  @TempDir Path tmp;

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "--model MODEL --port 70000|--port=70000",
        "--model MODEL --max-concurrency 0|--max-concurrency=0",
        "--model MODEL --api-key-file MISSING|--api-key-file",
        "--model MODEL --api-key-file EMPTY|empty",
        "--model NOWHERE|not a directory",
        "--model MODEL|no config.json",
        "--model job:|expected job:<id>",
        "--model job:abc@x|the step after @",
      })
  void badOptionsAreOneLine(String args, String expected) throws Exception {
    Path model = Files.createDirectories(tmp.resolve("model"));
    Files.writeString(tmp.resolve("empty"), "\n");
    String[] argv =
        ("serve " + args)
            .replace("MODEL", model.toString())
            .replace("MISSING", tmp.resolve("missing").toString())
            .replace("EMPTY", tmp.resolve("empty").toString())
            .replace("NOWHERE", tmp.resolve("nowhere").toString())
            .split(" ");
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream old = System.err;
    int code;
    try {
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      code = DistillCli.execute(argv);
    } finally {
      System.setErr(old);
    }
    String line = err.toString(StandardCharsets.UTF_8).strip();
    assertThat(code).isNotZero();
    assertThat(line).startsWith("distill: ").doesNotContain("\n", "Exception").contains(expected);
  }
}
