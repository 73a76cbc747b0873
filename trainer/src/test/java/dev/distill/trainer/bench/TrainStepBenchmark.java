package dev.distill.trainer.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.distill.spec.DatasetSpec;
import dev.distill.spec.Hyperparameters;
import dev.distill.spec.JobSpec;
import dev.distill.spec.JobType;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.fused.FusedOps;
import dev.distill.trainer.fused.NativeKernels;
import dev.distill.trainer.loss.KdKind;
import dev.distill.trainer.loss.KdLoss;
import dev.distill.trainer.loss.KdLossConfig;
import dev.distill.trainer.loss.LossParts;
import dev.distill.trainer.model.NoGrad;
import dev.distill.trainer.model.gemma2.Gemma2Config;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.recipe.Recipes;
import dev.distill.trainer.recipe.RunContext;
import dev.distill.trainer.recipe.StepMetrics;
import dev.distill.trainer.recipe.TrainingListener;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Training throughput of a ~2M-parameter Gemma-2 student (d=256, 2 layers, 4/2 heads, vocab 512) at
 * batch 8 x 128 through the real recipe ({@code Recipes.run}: forward, chunked loss, backward,
 * clipping, AdamW), against the 9,000 tokens/s target; and peak RSS of the chunked loss against the
 * plain one at vocab 32k, each measured in its own child JVM.
 *
 * <p>Usage: {@code java -cp ... dev.distill.trainer.bench.TrainStepBenchmark [steps [parts [TRACE]
 * | throughput | floor | fused]]}: everything; only the step parts (optionally profiled); the GEMM
 * floor, parts and throughput without the memory children; only the GEMM floor; or the step parts
 * with fused and composed ops on alternate steps. The child mode is {@code mem chunked|plain}.
 * {@code -Ddistill.fused_ops=false} measures the composed GeGLU instead of the fused one.
 */
public final class TrainStepBenchmark {

  static final double TARGET_TOKENS_PER_SECOND = 9000;
  static final int BATCH = 8;
  static final int SEQ = 128;
  static final int WARMUP = 3;

  private TrainStepBenchmark() {}

  static Map<String, Object> student(int vocab) {
    return Map.of(
        "hidden_size", 256,
        "intermediate_size", 1024,
        "num_hidden_layers", 2,
        "num_attention_heads", 4,
        "num_key_value_heads", 2,
        "head_dim", 64,
        "query_pre_attn_scalar", 64,
        "sliding_window", 128,
        "vocab_size", vocab);
  }

  public static void main(String[] args) throws Exception {
    if (args.length == 2 && args[0].equals("mem")) {
      memoryChild(args[1]);
      return;
    }
    int steps = args.length > 0 ? Integer.parseInt(args[0]) : 30;
    System.out.printf(
        Locale.ROOT,
        "machine: %d cores, %s; load average before: %s%n",
        Runtime.getRuntime().availableProcessors(),
        System.getProperty("os.arch"),
        loadAverage());
    System.out.printf(
        Locale.ROOT,
        "student parameters: %,d%n",
        Gemma2Config.preset("gemma2-tiny").withOverrides(student(512)).parameterCount());
    if (args.length > 1 && args[1].equals("floor")) {
      gemmFloor();
      return;
    }
    if (args.length > 1 && args[1].equals("fused")) {
      parts(steps, null, FusedOps.PROPERTY);
      return;
    }
    if (args.length > 1 && args[1].equals("merged")) {
      parts(steps, null, FusedOps.MERGED_PROPERTY);
      return;
    }
    if (args.length > 1 && args[1].equals("native")) {
      parts(steps, args.length > 2 ? Path.of(args[2]) : null, NativeKernels.SWITCH);
      return;
    }
    if (args.length > 1 && args[1].equals("parts")) {
      parts(steps, args.length > 2 ? Path.of(args[2]) : null);
      return;
    }
    gemmFloor();
    parts(10, null);
    throughput(JobType.FINETUNE, steps);
    throughput(JobType.DISTILL, steps);
    System.out.printf(Locale.ROOT, "load average after throughput: %s%n", loadAverage());
    if (args.length > 1 && args[1].equals("throughput")) {
      return;
    }
    long chunked = memoryInChild("chunked");
    long plain = memoryInChild("plain");
    System.out.printf(
        Locale.ROOT,
        "memory, vocab 32768, batch %dx%d: loss step peak RSS growth chunked %,d KiB, plain %,d KiB;"
            + " chunked/plain = %.3f%n",
        BATCH,
        SEQ,
        chunked,
        plain,
        (double) chunked / plain);
  }

  /** Runs the recipe for WARMUP + steps steps and prints the median-step throughput. */
  static void throughput(JobType type, int steps) throws IOException {
    ModelRef s = new ModelRef("builtin:gemma2-tiny", student(512), null);
    ModelRef t = type == JobType.DISTILL ? s : null;
    DatasetSpec data =
        new DatasetSpec("builtin:procedural", null, null, SEQ, 0.0, true, true, 4000, 7L);
    // loss_chunk_size unset: the default, sized from the vocabulary
    Hyperparameters hp =
        Hyperparameters.builder()
            .maxSteps(WARMUP + steps)
            .batchSize(BATCH)
            .microBatchSize(BATCH)
            .learningRate(1e-3)
            .warmupSteps(0)
            .gradClip(1.0)
            .seed(1L)
            .checkpointEvery(1_000_000)
            .keepCheckpoints(1)
            .evalEvery(0)
            .build();
    JobSpec spec = new JobSpec(type, t, s, data, hp, null, null, null, null, null);
    List<StepMetrics> seen = new ArrayList<>();
    TrainingListener l =
        new TrainingListener() {
          @Override
          public void onStep(StepMetrics m) {
            seen.add(m);
          }
        };
    Path dir = Files.createTempDirectory("bench-");
    Recipes.run(spec, new RunContext(dir, Map.of(), l, null));
    List<StepMetrics> measured = seen.subList(WARMUP, seen.size());
    List<Double> secs = new ArrayList<>(measured.stream().map(StepMetrics::stepSeconds).toList());
    List<Double> tps =
        new ArrayList<>(measured.stream().map(StepMetrics::tokensPerSecond).toList());
    Collections.sort(secs);
    Collections.sort(tps);
    double median = tps.get(tps.size() / 2);
    System.out.printf(
        Locale.ROOT,
        "%s (%s): %d steps of batch %dx%d; median step %.1f ms (min %.1f, max %.1f);"
            + " median %,.0f input tokens/s (padding excluded) = %.2f x the %,.0f target%n",
        type.json(),
        type == JobType.DISTILL ? "same-size teacher forward + KL" : "cross-entropy",
        measured.size(),
        BATCH,
        SEQ,
        secs.get(secs.size() / 2) * 1e3,
        secs.get(0) * 1e3,
        secs.get(secs.size() - 1) * 1e3,
        median,
        median / TARGET_TOKENS_PER_SECOND,
        TARGET_TOKENS_PER_SECOND);
  }

  /**
   * The recipe's step taken apart on synthetic ids (no data pipeline): wall time of the student
   * forward, the chunked cross-entropy with its backward, and clipping + AdamW, medians in ms.
   *
   * @param trace when not null, the measured steps run under PyTorch's profiler and its Chrome
   *     trace is written there (aggregate it with {@code trainer/src/test/python/trace_ops.py})
   */
  static void parts(int steps, Path trace) {
    parts(steps, trace, null);
  }

  /**
   * @param property null, or a boolean switch ({@link FusedOps#PROPERTY}: fused ops against
   *     composed ones; {@link FusedOps#MERGED_PROPERTY}: merged q/k/v and gate/up products against
   *     separate ones): steps then alternate between true and false, so that both see the same
   *     machine state, and each gets its own medians
   */
  static void parts(int steps, Path trace, String property) {
    boolean alternate = property != null;
    Gemma2Config cfg = Gemma2Config.preset("gemma2-tiny").withOverrides(student(512));
    KdLoss loss = new KdLoss(KdLossConfig.crossEntropyOnly(128), null);
    Hyperparameters hp = Hyperparameters.defaults();
    try (NDManager manager = NDManager.newBaseManager();
        Gemma2Model model = Gemma2Model.init(cfg, manager, 1)) {
      model.requireGradients(true);
      try (dev.distill.trainer.optim.AdamW opt =
          new dev.distill.trainer.optim.AdamW(
              dev.distill.trainer.optim.OptimizerConfig.from(hp), model.parameters(), manager)) {
        Random r = new Random(3);
        int[] ids = new int[BATCH * SEQ];
        for (int i = 0; i < ids.length; i++) {
          ids[i] = r.nextInt(512);
        }
        int[] ones = new int[BATCH * SEQ];
        java.util.Arrays.fill(ones, 1);
        Shape bt = new Shape(BATCH, SEQ);
        int variants = alternate ? 2 : 1;
        List<List<Double>> fwd = List.of(new ArrayList<>(), new ArrayList<>());
        List<List<Double>> lossBack = List.of(new ArrayList<>(), new ArrayList<>());
        List<List<Double>> optim = List.of(new ArrayList<>(), new ArrayList<>());
        List<List<Double>> finish = List.of(new ArrayList<>(), new ArrayList<>());
        long[] cpuNanos = new long[2]; // process CPU time (all threads) of the measured steps
        for (int s = 0; s < (WARMUP + steps) * variants; s++) {
          int variant = s % variants; // 0: as configured (fused by default), 1: composed
          if (alternate) {
            System.setProperty(property, variant == 0 ? "true" : "false");
            model.setNativeKernels(
                property.equals(dev.distill.trainer.fused.NativeKernels.SWITCH) && variant == 0);
          }
          if (s == WARMUP * variants && trace != null) {
            ai.djl.pytorch.jni.JniUtils.startProfile(false, Boolean.getBoolean("shapes"), false);
          }
          try (NDManager m = manager.newSubManager();
              GradientCollector collector = Engine.getInstance().newGradientCollector()) {
            NDArray x = m.create(ids, bt); // (B, T)
            NDArray mask = m.create(ones, bt); // (B, T)
            NDArray lossMask = m.create(ones, bt); // (B, T)
            long c0 = processCpuNanos();
            long t0 = System.nanoTime();
            NDArray h = model.hidden(x, mask); // (B, T, D)
            h.getShape();
            long t1 = System.nanoTime();
            loss.backward(
                    collector, KdLoss.Hidden.student(model, h), x, lossMask, (long) BATCH * SEQ)
                .total()
                .getFloat();
            long t2a = System.nanoTime();
            model.finishBackward(); // checkpointed or native layers: their backward
            long t2 = System.nanoTime();
            opt.clipAndStep();
            long t3 = System.nanoTime();
            if (s >= WARMUP * variants) {
              cpuNanos[variant] += processCpuNanos() - c0;
              fwd.get(variant).add((t1 - t0) / 1e6);
              lossBack.get(variant).add((t2 - t1) / 1e6);
              finish.get(variant).add((t2 - t2a) / 1e6);
              optim.get(variant).add((t3 - t2) / 1e6);
            }
          }
        }
        if (trace != null) {
          ai.djl.pytorch.jni.JniUtils.stopProfile(trace.toString());
        }
        if (alternate) {
          System.clearProperty(property);
        }
        double[] total = new double[variants];
        for (int v = 0; v < variants; v++) {
          total[v] = median(fwd.get(v)) + median(lossBack.get(v)) + median(optim.get(v));
          System.out.printf(
              Locale.ROOT,
              "step parts%s (synthetic 8x128, vocab 512, median of %d): forward %.1f ms (lazy ops"
                  + " may defer to the next part), chunked CE + backward %.1f ms (of which the"
                  + " model's finishBackward %.1f ms), clip + AdamW %.1f ms; sum %.1f ms%n",
              !alternate ? "" : ", " + property + "=" + (v == 0),
              steps,
              median(fwd.get(v)),
              median(lossBack.get(v)),
              median(finish.get(v)),
              median(optim.get(v)),
              total[v]);
        }
        for (int v = 0; v < variants; v++) {
          System.out.printf(
              Locale.ROOT,
              "process CPU time per step%s: %.1f ms (mean; all threads)%n",
              !alternate ? "" : ", " + property + "=" + (v == 0),
              cpuNanos[v] / 1e6 / steps);
        }
        if (alternate) {
          System.out.printf(
              Locale.ROOT,
              "%s true / false step time: %.3f (medians), %.3f (CPU time)%n",
              property,
              total[0] / total[1],
              (double) cpuNanos[0] / cpuNanos[1]);
        }
      }
    }
  }

  static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean)
            java.lang.management.ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }

  /**
   * The step's matrix products alone, as the floor under any implementation that runs them through
   * libtorch's GEMM: every product of the student's forward and backward at batch 8 x 128 (q, k, v,
   * o, gate, up, down and the head: forward, input gradient, weight gradient; attention scores and
   * values: forward and both gradients), on random operands of the same shapes, timed back to back.
   * Prints the sum and the tokens/s it would allow with nothing else in the step.
   */
  static void gemmFloor() {
    Gemma2Config c = Gemma2Config.preset("gemma2-tiny").withOverrides(student(512));
    long n = (long) BATCH * SEQ; // tokens
    int d = c.hiddenSize();
    int inter = c.intermediateSize();
    int qd = c.numAttentionHeads() * c.headDim();
    int kvd = c.numKeyValueHeads() * c.headDim();
    List<long[]> mm = new ArrayList<>(); // {M, K, N}: (M, K) @ (K, N)
    for (int layer = 0; layer < c.numHiddenLayers(); layer++) {
      for (long[] w :
          new long[][] {{d, qd}, {d, kvd}, {d, kvd}, {qd, d}, {d, inter}, {d, inter}, {inter, d}}) {
        mm.add(new long[] {n, w[0], w[1]}); // forward: x @ W^T
        mm.add(new long[] {n, w[1], w[0]}); // input gradient: g @ W
        mm.add(new long[] {w[1], n, w[0]}); // weight gradient: g^T @ x
      }
    }
    mm.add(new long[] {n, d, c.vocabSize()}); // head forward (every token in the loss)
    mm.add(new long[] {n, c.vocabSize(), d}); // head input gradient
    mm.add(new long[] {c.vocabSize(), n, d}); // head weight gradient
    long heads = (long) BATCH * c.numKeyValueHeads(); // batched over (B, KV)
    long rows = (long) c.groupSize() * SEQ; // G * T query rows per kv head
    List<long[]> bmm = new ArrayList<>(); // {batch, M, K, N}
    for (int layer = 0; layer < c.numHiddenLayers(); layer++) {
      bmm.add(new long[] {heads, rows, c.headDim(), SEQ}); // scores q @ k^T
      bmm.add(new long[] {heads, rows, SEQ, c.headDim()}); // dq = dscores @ k
      bmm.add(new long[] {heads, SEQ, rows, c.headDim()}); // dk = dscores^T @ q
      bmm.add(new long[] {heads, rows, SEQ, c.headDim()}); // out = probs @ v
      bmm.add(new long[] {heads, rows, c.headDim(), SEQ}); // dprobs = dout @ v^T
      bmm.add(new long[] {heads, SEQ, rows, c.headDim()}); // dv = probs^T @ dout
    }
    double flops = 0;
    for (long[] s : mm) {
      flops += 2.0 * s[0] * s[1] * s[2];
    }
    for (long[] s : bmm) {
      flops += 2.0 * s[0] * s[1] * s[2] * s[3];
    }
    try (NDManager m = NDManager.newBaseManager()) {
      List<NDArray[]> ops = new ArrayList<>();
      for (long[] s : mm) {
        ops.add(
            new NDArray[] {
              m.randomNormal(new Shape(s[0], s[1])), m.randomNormal(new Shape(s[1], s[2]))
            });
      }
      for (long[] s : bmm) {
        ops.add(
            new NDArray[] {
              m.randomNormal(new Shape(s[0], s[1], s[2])),
              m.randomNormal(new Shape(s[0], s[2], s[3]))
            });
      }
      List<Double> rounds = new ArrayList<>();
      int total = Integer.getInteger("bench.floor_rounds", 13); // the last 10 are measured
      for (int r = 0; r < total; r++) {
        long t0 = System.nanoTime();
        for (NDArray[] ab : ops) {
          try (NDArray out = ab[0].matMul(ab[1])) {
            out.getShape();
          }
        }
        if (r >= total - 10) {
          rounds.add((System.nanoTime() - t0) / 1e6);
        }
      }
      double ms = median(rounds);
      System.out.printf(
          Locale.ROOT,
          "GEMM floor: the step's %d matrix products (%.1f GFLOP) alone take %.1f ms (median of 10,"
              + " %.0f GFLOP/s) = at most %,.0f tokens/s = %.2f x the %,.0f target, before any"
              + " other work%n",
          ops.size(),
          flops / 1e9,
          ms,
          flops / ms / 1e6,
          n / ms * 1000,
          n / ms * 1000 / TARGET_TOKENS_PER_SECOND,
          TARGET_TOKENS_PER_SECOND);
    }
  }

  private static double median(List<Double> xs) {
    List<Double> c = new ArrayList<>(xs);
    Collections.sort(c);
    return c.get(c.size() / 2);
  }

  static long memoryInChild(String mode) throws Exception {
    Process p =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx2g",
                "-XX:MaxDirectMemorySize=4g",
                "-Dai.djl.offline=true",
                "-cp",
                System.getProperty("java.class.path"),
                TrainStepBenchmark.class.getName(),
                "mem",
                mode)
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start();
    String out = new String(p.getInputStream().readAllBytes()).strip();
    if (p.waitFor() != 0) {
      throw new IllegalStateException("memory child " + mode + " failed: " + out);
    }
    System.out.println("  " + mode + ": " + out.replace("\n", "\n  "));
    String last = out.substring(out.lastIndexOf('\n') + 1);
    return Long.parseLong(last.substring(last.indexOf('=') + 1).trim());
  }

  /**
   * One loss-and-backward step at vocab 32768 with the chunked or the plain loss; prints the growth
   * of the peak resident set (VmHWM) over the peak before the step, in KiB.
   */
  static void memoryChild(String mode) throws IOException {
    Gemma2Config cfg = Gemma2Config.preset("gemma2-tiny").withOverrides(student(32768));
    KdLoss loss = new KdLoss(new KdLossConfig(KdKind.FORWARD_KL, 1.0, 1.0, 0.5, 128), null);
    try (NDManager manager = NDManager.newBaseManager();
        Gemma2Model student = Gemma2Model.init(cfg, manager, 1);
        Gemma2Model teacher = Gemma2Model.init(cfg, manager, 2)) {
      student.requireGradients(true);
      teacher.requireGradients(false);
      Random r = new Random(3);
      int[] ids = new int[BATCH * SEQ];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = r.nextInt(32768);
      }
      int[] ones = new int[BATCH * SEQ];
      java.util.Arrays.fill(ones, 1);
      Shape bt = new Shape(BATCH, SEQ);
      // a warm-up step of the trunk alone, so one-off allocations are not counted
      step(manager, student, teacher, loss, ids, ones, bt, "none");
      long before = hwmKib();
      step(manager, student, teacher, loss, ids, ones, bt, mode);
      long after = hwmKib();
      System.out.println("peak RSS before loss step " + before + " KiB, after " + after + " KiB");
      System.out.println("growth_kib=" + (after - before));
    }
  }

  private static void step(
      NDManager manager,
      Gemma2Model student,
      Gemma2Model teacher,
      KdLoss loss,
      int[] idsData,
      int[] ones,
      Shape bt,
      String mode) {
    try (NDManager m = manager.newSubManager();
        GradientCollector collector = Engine.getInstance().newGradientCollector()) {
      NDArray ids = m.create(idsData, bt); // (B, T)
      NDArray mask = m.create(ones, bt); // (B, T)
      NDArray labels = ids; // (B, T) any ids do for memory
      NDArray lossMask = m.create(ones, bt).toType(DataType.FLOAT32, false); // (B, T)
      NDArray th;
      try (NoGrad ignored = NoGrad.enter()) {
        th = teacher.hidden(ids, mask); // (B, T, D)
      }
      NDArray sh = student.hidden(ids, mask); // (B, T, D)
      long n = (long) BATCH * SEQ;
      switch (mode) {
        case "none" -> collector.backward(sh.sum());
        case "chunked" ->
            loss.backward(
                collector, new KdLoss.Hidden(student, sh, teacher, th), labels, lossMask, n);
        case "plain" -> {
          NDArray tl;
          try (NoGrad ignored = NoGrad.enter()) {
            tl = teacher.logits(th); // (B, T, V)
          }
          LossParts parts = loss.reference(student.logits(sh), tl, labels, lossMask, n);
          collector.backward(parts.total());
        }
        default -> throw new IllegalArgumentException("mode must be chunked or plain: " + mode);
      }
      student.parameters().values().forEach(p -> p.getGradient().close());
    }
  }

  static long hwmKib() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmHWM:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    throw new IllegalStateException("/proc/self/status has no VmHWM");
  }

  static String loadAverage() {
    try {
      return Files.readString(Path.of("/proc/loadavg")).strip();
    } catch (IOException e) {
      return "unknown";
    }
  }
}
