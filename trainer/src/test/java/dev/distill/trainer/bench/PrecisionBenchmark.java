package dev.distill.trainer.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.distill.spec.DatasetSpec;
import dev.distill.spec.Hyperparameters;
import dev.distill.spec.JobSpec;
import dev.distill.spec.JobType;
import dev.distill.spec.ModelRef;
import dev.distill.spec.plan.Precision;
import dev.distill.trainer.model.NoGrad;
import dev.distill.trainer.model.gemma2.Gemma2Config;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.recipe.Recipes;
import dev.distill.trainer.recipe.RunContext;
import dev.distill.trainer.recipe.StepMetrics;
import dev.distill.trainer.recipe.TrainingListener;
import dev.distill.trainer.safetensors.SafetensorsDtype;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * fp32 against bf16-mixed, side by side in one run, each measurement in its own child JVM (so that
 * peak RSS belongs to one precision): (1) the finetune step of {@link TrainStepBenchmark}'s 2.1M
 * student at batch 8 x 128 through the real recipe, median step time and peak RSS (VmHWM); (2) a
 * teacher of 96.5M parameters ({@link #teacherConfig}) loaded from a BF16 checkpoint expanded to
 * fp32 ({@code Gemma2Model.load}) and frozen in 2 bytes ({@code loadFrozen}, fp32 and bf16
 * compute): parameter bytes, RSS growth of the load, and the median no-grad forward at 8 x 128.
 *
 * <p>Usage: {@code java -cp ... dev.distill.trainer.bench.PrecisionBenchmark [steps [rounds]]}. The
 * children are {@code train PRECISION STEPS} and {@code teacher DIR MODE}. CPU bf16 speed says
 * nothing about a GPU's: without AMX or avx512_bf16, libtorch's CPU bf16 GEMM is slower than fp32.
 */
public final class PrecisionBenchmark {

  private PrecisionBenchmark() {}

  public static void main(String[] args) throws Exception {
    if (args.length == 3 && args[0].equals("train")) {
      trainChild(args[1], Integer.parseInt(args[2]));
      return;
    }
    if (args.length == 3 && args[0].equals("teacher")) {
      teacherChild(Path.of(args[1]), args[2]);
      return;
    }
    int steps = args.length > 0 ? Integer.parseInt(args[0]) : 20;
    int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 2;
    System.out.printf(
        Locale.ROOT,
        "machine: %d cores; load average before: %s%n",
        Runtime.getRuntime().availableProcessors(),
        TrainStepBenchmark.loadAverage());
    for (int r = 1; r <= rounds; r++) {
      for (String p : new String[] {"fp32", "bf16-mixed"}) {
        child("round " + r + " train " + p, "train", p, Integer.toString(steps));
      }
    }
    Path dir = Files.createTempDirectory("bench-teacher-");
    try (NDManager m = NDManager.newBaseManager();
        Gemma2Model t = Gemma2Model.init(teacherConfig(), m, 5)) {
      t.save(dir, SafetensorsDtype.BF16, Gemma2Model.DEFAULT_SHARD_BYTES);
    }
    for (String mode : new String[] {"expanded", "frozen-fp32", "frozen-bf16"}) {
      child("teacher " + mode, "teacher", dir.toString(), mode);
    }
    System.out.printf(Locale.ROOT, "load average after: %s%n", TrainStepBenchmark.loadAverage());
  }

  /** 96.5M parameters: d=1024, intermediate 4096, 4 layers, 8/4 heads of 128, vocab 32,768. */
  static Gemma2Config teacherConfig() {
    return Gemma2Config.preset("gemma2-tiny")
        .withOverrides(
            Map.of(
                "hidden_size", 1024,
                "intermediate_size", 4096,
                "num_hidden_layers", 4,
                "num_attention_heads", 8,
                "num_key_value_heads", 4,
                "head_dim", 128,
                "query_pre_attn_scalar", 128,
                "sliding_window", 128,
                "vocab_size", 32768));
  }

  static void child(String label, String... args) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(List.of("-Xmx2g", "-XX:MaxDirectMemorySize=4g", "-Dai.djl.offline=true"));
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path")));
    cmd.add(PrecisionBenchmark.class.getName());
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    String out = new String(p.getInputStream().readAllBytes()).strip();
    if (p.waitFor() != 0) {
      throw new IllegalStateException(label + " failed: " + out);
    }
    String last = out.substring(out.lastIndexOf('\n') + 1);
    System.out.println(label + ": " + last);
  }

  static void trainChild(String precision, int steps) throws Exception {
    ModelRef s = new ModelRef("builtin:gemma2-tiny", TrainStepBenchmark.student(512), null);
    DatasetSpec data =
        new DatasetSpec(
            "builtin:procedural", null, null, TrainStepBenchmark.SEQ, 0.0, true, true, 4000, 7L);
    Hyperparameters hp =
        Hyperparameters.builder()
            .maxSteps(TrainStepBenchmark.WARMUP + steps)
            .batchSize(TrainStepBenchmark.BATCH)
            .learningRate(1e-3)
            .warmupSteps(0)
            .seed(1L)
            .checkpointEvery(1_000_000)
            .keepCheckpoints(1)
            .precision(precision)
            .build();
    JobSpec spec = new JobSpec(JobType.FINETUNE, null, s, data, hp, null, null, null, null, null);
    List<StepMetrics> seen = new ArrayList<>();
    TrainingListener l =
        new TrainingListener() {
          @Override
          public void onStep(StepMetrics m) {
            seen.add(m);
          }
        };
    Recipes.run(spec, new RunContext(Files.createTempDirectory("bench-"), Map.of(), l, null));
    List<Double> ms =
        new ArrayList<>(
            seen.subList(TrainStepBenchmark.WARMUP, seen.size()).stream()
                .map(m -> m.stepSeconds() * 1e3)
                .toList());
    Collections.sort(ms);
    System.out.printf(
        Locale.ROOT,
        "median step %.1f ms (min %.1f, max %.1f) over %d steps, last loss %.4f, peak RSS %,d MiB%n",
        ms.get(ms.size() / 2),
        ms.get(0),
        ms.get(ms.size() - 1),
        ms.size(),
        seen.get(seen.size() - 1).loss(),
        TrainStepBenchmark.hwmKib() / 1024);
  }

  static void teacherChild(Path dir, String mode) throws Exception {
    try (NDManager m = NDManager.newBaseManager()) {
      m.zeros(new Shape(1)).close(); // the engine loaded before the baseline
      long before = rssKib();
      Gemma2Model t =
          switch (mode) {
            case "expanded" -> Gemma2Model.load(dir, m);
            case "frozen-fp32" -> Gemma2Model.loadFrozen(dir, m, Precision.FP32);
            case "frozen-bf16" -> Gemma2Model.loadFrozen(dir, m, Precision.BF16_MIXED);
            default -> throw new IllegalArgumentException(mode);
          };
      System.gc(); // unmaps the file chunks read while loading, which count in the RSS
      Thread.sleep(500);
      long grown = rssKib() - before;
      long[] ids = new long[TrainStepBenchmark.BATCH * TrainStepBenchmark.SEQ];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = (i * 7919L) % 32768;
      }
      List<Double> ms = new ArrayList<>();
      try (NoGrad ignored = NoGrad.enter()) {
        for (int i = 0; i < 5; i++) {
          try (NDManager step = m.newSubManager()) {
            NDArray x =
                step.create(ids, new Shape(TrainStepBenchmark.BATCH, TrainStepBenchmark.SEQ));
            long t0 = System.nanoTime();
            t.forward(x, null).toFloatArray();
            if (i >= 1) {
              ms.add((System.nanoTime() - t0) / 1e6);
            }
          }
        }
      }
      Collections.sort(ms);
      System.out.printf(
          Locale.ROOT,
          "%,d parameter bytes; RSS +%,d MiB on load; median forward %.1f ms; peak RSS %,d MiB%n",
          t.parameterBytes(),
          grown / 1024,
          ms.get(ms.size() / 2),
          TrainStepBenchmark.hwmKib() / 1024);
      t.close();
    }
  }

  static long rssKib() throws Exception {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    throw new IllegalStateException("/proc/self/status has no VmRSS");
  }
}
