package dev.distill.app.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A worker told to train on the fused CPU kernels ({@code -Ddistill.native_kernels=true}) that
 * cannot load them stops at its start with one line saying why, before it registers or claims a job
 * (each would fail on it). A child JVM: the library's load is decided once per process.
 */
class NativeKernelsSwitchTest {

  @Test
  void aWorkerThatCannotLoadTheKernelsItWasToldToUseStopsAtItsStart(@TempDir Path dir)
      throws Exception {
    Path outFile = dir.resolve("out.txt");
    Path errFile = dir.resolve("err.txt");
    Process p =
        new ProcessBuilder(
                List.of(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Dai.djl.offline=true",
                    "-Ddistill.native_kernels=true",
                    "-Ddistill.native_ops=/nonexistent/libdistill_ops.so",
                    "-cp",
                    System.getProperty("java.class.path"),
                    DistillCli.class.getName(),
                    "worker",
                    "--url",
                    "http://127.0.0.1:1",
                    "--token",
                    "t",
                    "--metrics-port",
                    "-1"))
            .redirectOutput(outFile.toFile())
            .redirectError(errFile.toFile())
            .start();
    boolean ended = p.waitFor(60, TimeUnit.SECONDS);
    if (!ended) {
      p.destroyForcibly().waitFor();
    }
    String out = Files.readString(outFile, StandardCharsets.UTF_8);
    String err = Files.readString(errFile, StandardCharsets.UTF_8);
    assertThat(ended).as("the worker stopped by itself; its output: %s%s", out, err).isTrue();
    assertThat(p.exitValue()).as(out + err).isEqualTo(1);
    String[] lines = err.strip().split("\n");
    assertThat(lines[lines.length - 1])
        .isEqualTo(
            "distill: -Ddistill.native_kernels=true, but native kernels unavailable:"
                + " /nonexistent/libdistill_ops.so (-Ddistill.native_ops): no such file");
    assertThat(err).doesNotContain("127.0.0.1:1"); // it never tried the service
  }
}
