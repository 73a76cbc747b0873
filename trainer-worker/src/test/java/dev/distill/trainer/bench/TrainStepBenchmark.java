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
 * <p>Usage: {@code java -cp ... dev.distill.trainer.bench.TrainStepBenchmark [steps]}; the child
 * mode is {@code mem chunked|plain}.
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
    if (args.length > 1 && args[1].equals("parts")) {
      parts(steps, args.length > 2 ? Path.of(args[2]) : null);
      return;
    }
    parts(10, null);
    throughput(JobType.FINETUNE, steps);
    throughput(JobType.DISTILL, steps);
    System.out.printf(Locale.ROOT, "load average after throughput: %s%n", loadAverage());
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
    Hyperparameters hp =
        new Hyperparameters(
            WARMUP + steps,
            BATCH,
            BATCH,
            1e-3,
            null,
            0,
            null,
            null,
            null,
            1.0,
            null,
            null,
            null,
            null,
            1L,
            1_000_000,
            1,
            0,
            null); // loss_chunk_size: the default, sized from the vocabulary
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
   *     trace is written there (aggregate it with {@code
   *     trainer-worker/src/test/python/trace_ops.py})
   */
  static void parts(int steps, Path trace) {
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
        List<Double> fwd = new ArrayList<>();
        List<Double> lossBack = new ArrayList<>();
        List<Double> optim = new ArrayList<>();
        for (int s = 0; s < WARMUP + steps; s++) {
          if (s == WARMUP && trace != null) {
            ai.djl.pytorch.jni.JniUtils.startProfile(false, Boolean.getBoolean("shapes"), false);
          }
          try (NDManager m = manager.newSubManager();
              GradientCollector collector = Engine.getInstance().newGradientCollector()) {
            NDArray x = m.create(ids, bt); // (B, T)
            NDArray mask = m.create(ones, bt); // (B, T)
            NDArray lossMask = m.create(ones, bt); // (B, T)
            long t0 = System.nanoTime();
            NDArray h = model.hidden(x, mask); // (B, T, D)
            h.getShape();
            long t1 = System.nanoTime();
            loss.backward(collector, model, h, null, null, x, lossMask, (long) BATCH * SEQ)
                .total()
                .getFloat();
            long t2 = System.nanoTime();
            opt.clipAndStep();
            long t3 = System.nanoTime();
            if (s >= WARMUP) {
              fwd.add((t1 - t0) / 1e6);
              lossBack.add((t2 - t1) / 1e6);
              optim.add((t3 - t2) / 1e6);
            }
          }
        }
        if (trace != null) {
          ai.djl.pytorch.jni.JniUtils.stopProfile(trace.toString());
        }
        System.out.printf(
            Locale.ROOT,
            "step parts (synthetic 8x128, vocab 512, median of %d): forward %.1f ms (lazy ops may"
                + " defer to the next part), chunked CE + backward %.1f ms, clip + AdamW %.1f ms%n",
            steps,
            median(fwd),
            median(lossBack),
            median(optim));
      }
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
        case "chunked" -> loss.backward(collector, student, sh, teacher, th, labels, lossMask, n);
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
