package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The Python of the interop venv ({@code .venv-interop/} in the repository root, made by {@code
 * .ci/run} from {@code .ci/requirements-interop.txt}), which runs the real outside clients
 * (transformers) against our files. A test that needs it fails, never skips, when it is missing.
 */
final class InteropPython {

  static final String VENV = ".venv-interop";
  static final String REQUIREMENTS = ".ci/requirements-interop.txt";

  /** The command that makes the venv, from the repository root. */
  static final String MAKE_VENV =
      "python3 -m venv " + VENV + " && " + VENV + "/bin/pip install --retries 0 -r " + REQUIREMENTS;

  private InteropPython() {}

  /** The venv's python; fails the test, saying how to make it, when it is missing. */
  static Path require() {
    Path root = repositoryRoot();
    Path python = root.resolve(VENV).resolve("bin").resolve("python");
    if (!Files.isExecutable(python)) {
      fail(
          "the interop venv is missing: %s does not exist. Run .ci/run, or from %s: %s",
          python, root, MAKE_VENV);
    }
    return python;
  }

  /** The directory above the working directory that holds {@value #REQUIREMENTS}. */
  static Path repositoryRoot() {
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      if (Files.isRegularFile(p.resolve(REQUIREMENTS))) {
        return p;
      }
    }
    throw new AssertionError(
        "no " + REQUIREMENTS + " above " + Path.of("").toAbsolutePath() + ": run from the repo");
  }

  /**
   * Runs a script from the test resources ({@code interop/<name>}) with the venv's python, offline,
   * and fails the test with its output unless it exits 0.
   *
   * @return its standard output and error, together
   */
  static String run(Path workDir, String script, String... args)
      throws IOException, InterruptedException {
    Path python = require();
    Path file = workDir.resolve(script);
    try (InputStream in = InteropPython.class.getResourceAsStream("/interop/" + script)) {
      assertThat(in).as("test resource interop/" + script).isNotNull();
      Files.copy(in, file);
    }
    List<String> command = new ArrayList<>(List.of(python.toString(), file.toString()));
    command.addAll(List.of(args));
    Path log = workDir.resolve(script + ".log");
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.redirectOutput(log.toFile());
    pb.environment().put("HF_HUB_OFFLINE", "1");
    pb.environment().put("TRANSFORMERS_OFFLINE", "1");
    pb.environment().put("TOKENIZERS_PARALLELISM", "false");
    pb.environment().put("OMP_NUM_THREADS", "2");
    Process p = pb.start();
    // a bound on a hung interpreter, not a timing assertion
    if (!p.waitFor(10, TimeUnit.MINUTES)) {
      p.destroyForcibly();
      fail("%s did not finish in 10 minutes; output:%n%s", script, read(log));
    }
    String output = read(log);
    if (p.exitValue() != 0) {
      fail("%s exited %d; output:%n%s", script, p.exitValue(), output);
    }
    return output;
  }

  private static String read(Path log) throws IOException {
    return Files.readString(log, StandardCharsets.UTF_8);
  }
}
