package dev.distill.app.cli;

import dev.distill.spec.JobSpec;
import dev.distill.spec.plan.MemoryPlan;
import dev.distill.spec.plan.Precision;
import dev.distill.trainer.recipe.MemoryPlans;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code distill plan SPEC}: the memory a job needs on its device, by component, and whether it
 * fits. Reads {@code config.json} of {@code file:} models, never their weights.
 */
@Command(
    name = "plan",
    description = "Print the memory plan of a job spec: bytes per component, total, fits.")
public final class PlanCommand implements Callable<Integer> {

  private static final double GIB = 1L << 30;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Parameters(index = "0", paramLabel = "SPEC", description = "A job spec file (JSON or YAML).")
  Path specFile;

  @Option(
      names = "--device-memory-gib",
      description = "Device memory to compare with, in GiB (e.g. 140 for an H200).")
  Double deviceMemoryGib;

  @Option(
      names = "--precision",
      description =
          "fp32, bf16-mixed or bf16 (default: the spec's hyperparameters.precision, else by"
              + " requirements.device: bf16-mixed on cuda, fp32 otherwise).")
  String precision;

  @Option(
      names = {"-o", "--output"},
      defaultValue = "table",
      description = "table (default) or json.")
  String output;

  @Override
  public Integer call() {
    if (!output.equals("table") && !output.equals("json")) {
      throw new IllegalArgumentException("-o must be table or json, was '" + output + "'");
    }
    if (deviceMemoryGib != null && !(deviceMemoryGib > 0)) {
      throw new IllegalArgumentException(
          "--device-memory-gib must be positive, was " + deviceMemoryGib);
    }
    JobSpec job = SpecFiles.read(specFile);
    Precision p =
        precision != null
            ? Precision.of(precision)
            : job.hyperparameters().precision() != null
                ? Precision.of(job.hyperparameters().precision())
                : Precision.defaultFor(job.requirements().device());
    MemoryPlan plan =
        MemoryPlans.forSpec(job, p, Map.of())
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        specFile
                            + ": a job: model's shape is known only to the worker it runs on"));
    if (deviceMemoryGib != null) {
      plan = plan.onDevice(Math.round(deviceMemoryGib * GIB));
    }
    PrintWriter out = spec.commandLine().getOut();
    if (output.equals("json")) {
      out.println(JsonMapper.builder().build().writeValueAsString(json(plan)));
    } else {
      table(out, plan);
    }
    out.flush();
    return 0;
  }

  /** The JSON of issue 11: components, total_bytes, device_memory_bytes, fits; and the inputs. */
  static Map<String, Object> json(MemoryPlan plan) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("components", plan.components());
    m.put("total_bytes", plan.totalBytes());
    m.put("device_memory_bytes", plan.deviceMemoryBytes());
    m.put("fits", plan.fits());
    Map<String, Object> activations = new LinkedHashMap<>();
    activations.put("checkpointing_off", plan.activationsFullBytes());
    activations.put("checkpointing_on", plan.activationsCheckpointedBytes());
    m.put("activations", activations);
    var in = plan.inputs();
    Map<String, Object> inputs = new LinkedHashMap<>();
    inputs.put("precision", in.precision().json());
    inputs.put("training", in.training());
    inputs.put("micro_batch_size", in.microBatch());
    inputs.put("seq_len", in.seqLen());
    inputs.put("activation_checkpointing", in.checkpointing());
    inputs.put("loss_chunk_tokens", in.lossChunk());
    inputs.put("student_parameters", in.student() == null ? null : in.student().parameterCount());
    inputs.put("teacher_parameters", in.teacher() == null ? null : in.teacher().parameterCount());
    inputs.put("trainable_parameters", in.trainableParameters());
    inputs.put("lora_rank", in.lora() == null ? null : in.lora().rank());
    inputs.put("lora_target_modules", in.lora() == null ? null : in.lora().targetModules());
    inputs.put("teacher_cache_top_k", in.cacheTopK());
    m.put("inputs", inputs);
    return m;
  }

  private static void table(PrintWriter out, MemoryPlan plan) {
    var in = plan.inputs();
    out.printf(
        "precision %s, micro-batch %d x %d tokens, activation checkpointing %s%n",
        in.precision().json(), in.microBatch(), in.seqLen(), in.checkpointing() ? "on" : "off");
    if (in.teacher() != null) {
      out.printf("teacher %,d parameters%n", in.teacher().parameterCount());
    }
    if (in.cacheTopK() != null) {
      out.printf("teacher cache, top_k %d (no teacher model loaded)%n", in.cacheTopK());
    }
    if (in.student() != null && in.lora() != null) {
      out.printf(
          "student %,d parameters, frozen; LoRA rank %d on %s: %,d trained (AdamW)%n",
          in.student().parameterCount(),
          in.lora().rank(),
          String.join(", ", in.lora().targetModules()),
          in.trainableParameters());
    } else if (in.student() != null) {
      out.printf(
          "student %,d parameters%s%n",
          in.student().parameterCount(), in.training() ? " (trained, AdamW)" : "");
    }
    out.printf("%-18s %14s %10s%n", "component", "bytes", "GiB");
    plan.components()
        .forEach((name, bytes) -> out.printf("%-18s %,14d %10.2f%n", name, bytes, bytes / GIB));
    out.printf("%-18s %,14d %10.2f%n", "total", plan.totalBytes(), plan.totalBytes() / GIB);
    if (in.training()) {
      out.printf(
          "activations: %.2f GiB without checkpointing, %.2f GiB with%n",
          plan.activationsFullBytes() / GIB, plan.activationsCheckpointedBytes() / GIB);
    }
    if (plan.deviceMemoryBytes() != null) {
      out.printf(
          "device %.2f GiB: %s%n",
          plan.deviceMemoryBytes() / GIB,
          plan.fits()
              ? "fits"
              : String.format(
                  "does not fit (%.2f GiB over)",
                  (plan.totalBytes() - plan.deviceMemoryBytes()) / GIB));
    }
  }
}
