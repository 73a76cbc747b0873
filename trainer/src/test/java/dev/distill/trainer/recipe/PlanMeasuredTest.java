package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.spec.JobSpec;
import dev.distill.spec.SpecJson;
import dev.distill.spec.plan.MemoryPlan;
import dev.distill.spec.plan.Precision;
import dev.distill.trainer.fused.NativeKernels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The memory plan against the memory a real training takes, with and without activation
 * checkpointing: a distillation of a 4-layer, 256-wide student from a 2-layer teacher at 8 x 512
 * tokens, two steps, in a child JVM ({@link MemoryProbe}).
 *
 * <p>What is measured: the growth of the child's peak resident set (VmHWM at the end of the last
 * step) over its resident set before the job's first tensor (VmRSS after the JVM heap is
 * pre-touched, libtorch has run an op and the fused-ops module is loaded). The baseline is
 * subtracted because it is the JVM and libtorch themselves (about 300 MB here), which the plan does
 * not count: on a GPU they live in host memory, not on the device. glibc is told to map every block
 * of 64 KiB or more on its own ({@code MALLOC_MMAP_THRESHOLD_}), so that a freed tensor leaves the
 * resident set at once and the peak is the peak of live memory, not of the allocator's cache.
 */
class PlanMeasuredTest {

  private static final String SPEC =
      """
      {"type": "distill",
       "teacher": {"uri": "builtin:gemma2-demo-teacher", "config": {"num_hidden_layers": 2}},
       "student": {"uri": "builtin:gemma2-demo-teacher",
                   "config": {"hidden_size": 256, "intermediate_size": 1024, "head_dim": 64,
                              "query_pre_attn_scalar": 64}},
       "dataset": {"uri": "builtin:procedural", "max_seq_len": 512, "packing": true,
                   "num_examples": 400, "validation_fraction": 0.0},
       "hyperparameters": {"max_steps": 2, "batch_size": 8, "warmup_steps": 0,
                           "checkpoint_every": 1000, "activation_checkpointing": %s}}
      """;

  private static long measuredBytes(String json, String... jvmOptions) throws Exception {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(List.of("-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch", "-Dai.djl.offline=true"));
    command.addAll(List.of(jvmOptions));
    command.addAll(
        List.of("-cp", System.getProperty("java.class.path"), MemoryProbe.class.getName(), json));
    ProcessBuilder b = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT);
    b.environment().put("MALLOC_MMAP_THRESHOLD_", "65536");
    b.environment().remove("MALLOC_TRIM_THRESHOLD_");
    b.environment().remove("MALLOC_TOP_PAD_");
    Process p = b.start();
    String out = new String(p.getInputStream().readAllBytes()).strip();
    assertThat(p.waitFor()).as(out).isZero();
    long baseline = 0;
    long peak = 0;
    for (String line : out.split("\n")) {
      if (line.startsWith("baseline_kib=")) {
        baseline = Long.parseLong(line.substring("baseline_kib=".length()));
      } else if (line.startsWith("peak_kib=")) {
        peak = Long.parseLong(line.substring("peak_kib=".length()));
      }
    }
    assertThat(peak).as(out).isGreaterThan(baseline);
    System.out.printf("baseline %,d KiB, peak %,d KiB%n", baseline, peak);
    return (peak - baseline) * 1024;
  }

  private static MemoryPlan plan(String json) {
    JobSpec spec = SpecJson.mapper().readValue(json, JobSpec.class);
    return MemoryPlans.forSpec(spec, Precision.FP32, Map.of()).orElseThrow();
  }

  @Test
  void thePlanIsWithin15PercentOfTheMeasuredPeakWithAndWithoutCheckpointing() throws Exception {
    String off = SPEC.formatted("false");
    String on = SPEC.formatted("true");
    long measuredOff = measuredBytes(off);
    long measuredOn = measuredBytes(on);
    MemoryPlan planOff = plan(off);
    MemoryPlan planOn = plan(on);
    System.out.printf(
        "checkpointing off: plan %,d measured %,d (%.3f); on: plan %,d measured %,d (%.3f)%n",
        planOff.totalBytes(),
        measuredOff,
        (double) measuredOff / planOff.totalBytes(),
        planOn.totalBytes(),
        measuredOn,
        (double) measuredOn / planOn.totalBytes());
    assertThat((double) measuredOff).isCloseTo(planOff.totalBytes(), withinPercent(15));
    assertThat((double) measuredOn).isCloseTo(planOn.totalBytes(), withinPercent(15));
    assertThat(measuredOn).as("checkpointing lowers the peak").isLessThan(measuredOff);
  }

  /**
   * The native path ({@code -Ddistill.native_kernels=true}) keeps its own activations for its
   * backward written out by hand (scores and probabilities, the GeGLU's inputs and output, the
   * norms' inputs and reciprocal RMS): the same plan holds for it.
   */
  @Test
  void thePlanIsWithin15PercentOfTheMeasuredPeakOnTheNativePath() throws Exception {
    String off = SPEC.formatted("false");
    long measured = measuredBytes(off, "-D" + NativeKernels.SWITCH + "=true");
    MemoryPlan plan = plan(off);
    System.out.printf(
        "native path: plan %,d measured %,d (%.3f)%n",
        plan.totalBytes(), measured, (double) measured / plan.totalBytes());
    assertThat((double) measured).isCloseTo(plan.totalBytes(), withinPercent(15));
  }

  /**
   * A LoRA student (rank 8 on all seven projections) on the same job: the base's weights alone, the
   * adapters' gradients and AdamW state, and the base's activations with the adapters' middles;
   * with dropout also each adapter's mask and dropped input.
   */
  @Test
  void theLoraPlanIsWithin15PercentOfTheMeasuredPeakWithAndWithoutDropout() throws Exception {
    for (String dropout : new String[] {"0.0", "0.1"}) {
      String json =
          SPEC.formatted("false")
              .replace(
                  "\"activation_checkpointing\": false",
                  "\"activation_checkpointing\": false, \"lora\": {\"rank\": 8, \"dropout\": "
                      + dropout
                      + "}");
      MemoryPlan plan = plan(json);
      assertThat(plan.inputs().lora()).isNotNull();
      long measured = measuredBytes(json);
      System.out.printf(
          "LoRA r=8 dropout %s: plan %,d measured %,d (%.3f); trainable %,d of %,d%n",
          dropout,
          plan.totalBytes(),
          measured,
          (double) measured / plan.totalBytes(),
          plan.inputs().trainableParameters(),
          plan.inputs().student().parameterCount());
      assertThat((double) measured)
          .as("dropout " + dropout)
          .isCloseTo(plan.totalBytes(), withinPercent(15));
    }
  }

  private static org.assertj.core.data.Percentage withinPercent(double p) {
    return org.assertj.core.data.Percentage.withPercentage(p);
  }
}
