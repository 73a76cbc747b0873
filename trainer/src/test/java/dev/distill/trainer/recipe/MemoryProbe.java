package dev.distill.trainer.recipe;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.distill.spec.JobSpec;
import dev.distill.spec.SpecJson;
import dev.distill.trainer.fused.FusedOps;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A child JVM for {@link PlanMeasuredTest}: runs a short training of a spec (given as JSON) and
 * prints {@code baseline_kib=} and {@code peak_kib=}. The baseline is the resident set (VmRSS) once
 * the JVM heap is touched, libtorch is loaded and has run an op and the fused-ops module is loaded:
 * memory that exists before any tensor of the job. The peak is VmHWM read at the end of the last
 * step (before the final checkpoint is written, whose copies are not part of the plan).
 */
public final class MemoryProbe {

  private MemoryProbe() {}

  public static void main(String[] args) throws IOException {
    JobSpec spec = SpecJson.mapper().readValue(args[0], JobSpec.class);
    Path out = Files.createTempDirectory("memory-probe");
    try (NDManager m = NDManager.newBaseManager();
        NDArray a = m.ones(new ai.djl.ndarray.types.Shape(64, 64));
        NDArray b = a.matMul(a)) {
      b.toFloatArray(); // libtorch loaded, its thread pool started
    }
    FusedOps.enabled();
    System.gc();
    long baseline = status("VmRSS");
    long[] peak = {0};
    TrainingListener listener =
        new TrainingListener() {
          @Override
          public void onStep(StepMetrics metrics) {
            if (metrics.step() == spec.hyperparameters().maxSteps()) {
              peak[0] = status("VmHWM");
            }
          }
        };
    TrainingRecipe.run(spec, new RunContext(out, null, listener, null));
    System.out.println("baseline_kib=" + baseline);
    System.out.println("peak_kib=" + peak[0]);
  }

  /** A {@code /proc/self/status} line's value in KiB. */
  static long status(String key) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith(key + ":")) {
          return Long.parseLong(line.substring(key.length() + 1).replace("kB", "").trim());
        }
      }
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    throw new IllegalStateException(key + " not in /proc/self/status");
  }
}
