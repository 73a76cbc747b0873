package dev.distill.e2e;

import static org.assertj.core.api.Assertions.fail;

import dev.distill.app.demo.LocalProcesses;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs {@code DistillCli} as its own JVM, as {@code ./distill <command>} does, with a controlled
 * environment (DISTILL_URL, DISTILL_TOKEN and an empty DISTILL_HOME, nothing inherited from the
 * developer's shell), and captures its exit code, stdout and stderr in files under {@code dir}.
 */
final class Cli {

  /** What one command printed and returned. */
  record Result(List<String> args, int exit, String out, String err) {

    List<String> outLines() {
      return out.lines().toList();
    }

    List<String> errLines() {
      return err.lines().toList();
    }

    @Override
    public String toString() {
      return "distill "
          + String.join(" ", args)
          + " -> exit "
          + exit
          + "\n--- stdout\n"
          + out
          + "--- stderr\n"
          + err;
    }
  }

  private static final AtomicInteger RUNS = new AtomicInteger();

  private final Path dir;
  private final Map<String, String> env;
  private final List<String> jvmOptions;

  /**
   * @param dir where the captured streams go (also the empty DISTILL_HOME)
   * @param env DISTILL_URL, DISTILL_TOKEN and anything else the commands should see
   */
  Cli(Path dir, Map<String, String> env) throws IOException {
    this(dir, env, List.of());
  }

  private Cli(Path dir, Map<String, String> env, List<String> jvmOptions) throws IOException {
    this.dir = Files.createDirectories(dir);
    this.env = Map.copyOf(env);
    this.jvmOptions = List.copyOf(jvmOptions);
  }

  /** The same commands with one environment variable changed. */
  Cli withEnv(String name, String value) throws IOException {
    Map<String, String> e = new HashMap<>(env);
    e.put(name, value);
    return new Cli(dir, e, jvmOptions);
  }

  /** The same commands in JVMs with these options too (for example a user's locale). */
  Cli withJvmOptions(String... options) throws IOException {
    List<String> o = new ArrayList<>(jvmOptions);
    o.addAll(Arrays.asList(options));
    return new Cli(dir, env, o);
  }

  /** Runs the command to its end (at most 60 s). */
  Result run(String... args) throws Exception {
    return run(Duration.ofSeconds(60), args);
  }

  Result run(Duration timeout, String... args) throws Exception {
    Started s = start(args);
    return s.await(timeout);
  }

  /** Starts the command without waiting; {@link Started#out()} can be read while it runs. */
  Started start(String... args) throws IOException {
    int n = RUNS.incrementAndGet();
    Path out = dir.resolve("cli-" + n + ".out");
    Path err = dir.resolve("cli-" + n + ".err");
    List<String> cmd =
        new ArrayList<>(
            List.of(
                LocalProcesses.java(),
                // a short-lived client: the quick compiler and the small collector start faster
                "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC",
                "-Xmx256m",
                "-Dai.djl.offline=true"));
    cmd.addAll(jvmOptions);
    cmd.addAll(
        List.of("-cp", System.getProperty("java.class.path"), "dev.distill.app.cli.DistillCli"));
    cmd.addAll(Arrays.asList(args));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().keySet().removeIf(k -> k.startsWith("DISTILL_"));
    pb.environment().put("DISTILL_HOME", Files.createDirectories(dir.resolve("home")).toString());
    pb.environment().putAll(env);
    pb.redirectOutput(out.toFile()).redirectError(err.toFile());
    return new Started(List.of(args), pb.start(), out, err);
  }

  /** A command started with {@link #start}. */
  record Started(List<String> args, Process process, Path outFile, Path errFile) {

    String out() throws IOException {
      return Files.readString(outFile, StandardCharsets.UTF_8);
    }

    /** Waits until stdout contains the text; fails if the command ends first or time runs out. */
    void awaitOutput(String text, Duration within) throws Exception {
      Instant deadline = Instant.now().plus(within);
      while (!out().contains(text)) {
        if (!process.isAlive()) {
          fail(
              "distill %s ended before printing '%s'; stdout: %s",
              String.join(" ", args), text, out());
        }
        if (Instant.now().isAfter(deadline)) {
          fail(
              "distill %s printed no '%s' within %s; stdout: %s",
              String.join(" ", args), text, within, out());
        }
        Thread.sleep(100);
      }
    }

    Result await(Duration timeout) throws Exception {
      if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        LocalProcesses.stop(process, Duration.ofSeconds(5));
        fail(
            "distill %s did not end within %s; stdout: %s; stderr: %s",
            String.join(" ", args), timeout, out(), Files.readString(errFile));
      }
      return new Result(args, process.exitValue(), out(), Files.readString(errFile));
    }
  }
}
