package dev.distill.app.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code distill train} refuses bad spec files with one line naming the file and the field. */
class TrainCommandTest {

  @TempDir Path tmp;

  private record Outcome(int code, String err) {}

  private Outcome train(Path specFile) {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream old = System.err;
    try {
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      int code =
          DistillCli.execute("train", specFile.toString(), "--out", tmp.resolve("out").toString());
      return new Outcome(code, err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setErr(old);
    }
  }

  private Path write(String name, String text) throws Exception {
    Path p = tmp.resolve(name);
    Files.writeString(p, text);
    return p;
  }

  private static void assertOneLine(Outcome o, String... parts) {
    assertThat(o.code()).isNotZero();
    String line = o.err().strip();
    assertThat(line).doesNotContain("\n").startsWith("distill: ");
    assertThat(line).contains(parts);
    assertThat(line).doesNotContain("Exception", "\tat ");
  }

  @Test
  void unknownFieldIsNamed() throws Exception {
    Path f =
        write(
            "unknown.json",
            """
            {"type": "finetune", "student": "builtin:gemma2-tiny",
             "dataset": {"uri": "builtin:procedural", "num_examples": 50},
             "hyperparameters": {"max_stepz": 3}}
            """);
    assertOneLine(train(f), f.toString(), "max_stepz");
  }

  @Test
  void badValueIsNamedWithItsPath() throws Exception {
    Path f =
        write(
            "bad.yaml",
            """
            type: finetune
            student: builtin:gemma2-tiny
            dataset: {uri: "builtin:procedural", num_examples: 50}
            hyperparameters: {learning_rate: 5.0}
            """);
    assertOneLine(train(f), f.toString(), "hyperparameters.learning_rate");
  }

  @Test
  void wrongTypeOfValueIsNamed() throws Exception {
    Path f =
        write(
            "type.json",
            """
            {"type": "finetune", "student": "builtin:gemma2-tiny",
             "dataset": {"uri": "builtin:procedural", "max_seq_len": "long"}}
            """);
    assertOneLine(train(f), f.toString(), "max_seq_len");
  }

  @Test
  void missingFileIsNamed() {
    Path f = tmp.resolve("nowhere.json");
    assertOneLine(train(f), f.toString());
  }
}
