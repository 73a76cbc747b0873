package dev.distill.trainer.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.distill.spec.DatasetSpec;
import dev.distill.spec.Hyperparameters;
import dev.distill.spec.JobSpec;
import dev.distill.spec.JobType;
import dev.distill.spec.ModelRef;
import dev.distill.spec.TeacherPassSettings;
import dev.distill.trainer.cache.CacheKey;
import dev.distill.trainer.cache.LogProbEncoding;
import dev.distill.trainer.cache.TeacherCache;
import dev.distill.trainer.cache.TeacherPass;
import dev.distill.trainer.data.Batch;
import dev.distill.trainer.data.DatasetSplits;
import dev.distill.trainer.data.Datasets;
import dev.distill.trainer.data.Sequence;
import dev.distill.trainer.loss.TeacherTargets;
import dev.distill.trainer.model.NoGrad;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.recipe.Recipes;
import dev.distill.trainer.recipe.RunContext;
import dev.distill.trainer.recipe.RunResult;
import dev.distill.trainer.recipe.StepMetrics;
import dev.distill.trainer.recipe.TrainingListener;
import dev.distill.trainer.tokenize.ByteTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The teacher-logit cache, measured in one run: a teacher (the 2.1M-parameter model of {@link
 * TrainStepBenchmark}, fine-tuned for a few steps so that its distributions are not flat) writes
 * caches by teacher_pass jobs; printed are bytes per position, the pass's positions per second, the
 * KL between the teacher's full distribution and the cache's reconstruction on held-out sequences,
 * and the median step of a cached distill, an online distill and a finetune through {@code
 * Recipes.run}, then the wall time of two students from one cache against two online runs.
 *
 * <p>Usage: {@code java -cp ... dev.distill.trainer.bench.TeacherCacheBenchmark [steps [steps]]}:
 * everything, or (second argument {@code steps}) one pass and the step rounds only.
 */
public final class TeacherCacheBenchmark {

  private static final int BATCH = TrainStepBenchmark.BATCH;
  private static final int SEQ = TrainStepBenchmark.SEQ;
  private static final int WARMUP = TrainStepBenchmark.WARMUP;
  private static final ModelRef MODEL =
      new ModelRef("builtin:gemma2-tiny", TrainStepBenchmark.student(512), null);

  private TeacherCacheBenchmark() {}

  private static DatasetSpec data() {
    return new DatasetSpec("builtin:procedural", null, null, SEQ, 0.05, true, true, 1500, 7L);
  }

  private static Hyperparameters hp(int steps) {
    return Hyperparameters.builder()
        .maxSteps(steps)
        .batchSize(BATCH)
        .microBatchSize(BATCH)
        .learningRate(3e-3)
        .warmupSteps(0)
        .gradClip(1.0)
        .seed(1L)
        .checkpointEvery(1_000_000)
        .keepCheckpoints(1)
        .evalEvery(0)
        .build();
  }

  /** Step metrics and events of a run. */
  private static final class Seen implements TrainingListener {
    final List<StepMetrics> steps = new ArrayList<>();
    final List<String> events = new ArrayList<>();
    final List<Long> cpuNanos = new ArrayList<>();

    @Override
    public void onStep(StepMetrics m) {
      steps.add(m);
      cpuNanos.add(processCpuNanos());
    }

    /**
     * Median process CPU time per measured step (all threads, libtorch's included): on a shared
     * machine less sensitive than wall time to what else runs.
     */
    double medianCpuMs() {
      List<Double> d = new ArrayList<>();
      for (int i = WARMUP; i < cpuNanos.size(); i++) {
        d.add((cpuNanos.get(i) - cpuNanos.get(i - 1)) / 1e6);
      }
      Collections.sort(d);
      return d.get(d.size() / 2);
    }

    @Override
    public void onEvent(String type, String message) {
      events.add(type + ": " + message);
    }

    double medianStepMs() {
      List<Double> s =
          new ArrayList<>(
              steps.subList(WARMUP, steps.size()).stream().map(StepMetrics::stepSeconds).toList());
      Collections.sort(s);
      return s.get(s.size() / 2) * 1e3;
    }
  }

  public static void main(String[] args) throws Exception {
    int steps = args.length > 0 ? Integer.parseInt(args[0]) : 20;
    boolean stepsOnly = args.length > 1 && args[1].equals("steps");
    Path root = Files.createTempDirectory("cache-bench-");
    System.out.printf(
        Locale.ROOT,
        "machine: %d cores; load average before: %s%n",
        Runtime.getRuntime().availableProcessors(),
        TrainStepBenchmark.loadAverage());
    // a teacher whose distributions have learned something
    RunResult t =
        Recipes.run(
            new JobSpec(
                JobType.FINETUNE, null, MODEL, data(), hp(60), null, null, null, null, null),
            new RunContext(root.resolve("teacher"), Map.of(), null, null));
    Path teacherDir = t.lastCheckpoint().dir();
    ModelRef teacher = ModelRef.of("file:" + teacherDir);
    String teacherId = "11111111-1111-1111-1111-111111111111";

    // the pass: bytes per position and positions per second for a few settings
    Path store = root.resolve("caches");
    Path cache64 = null;
    List<TeacherPassSettings> settings =
        stepsOnly
            ? List.of(new TeacherPassSettings(64, null, 2, "q16"))
            : List.of(
                new TeacherPassSettings(8, null, 2, "f32"), // warm-up of the JVM and libtorch
                new TeacherPassSettings(64, null, 2, "q16"),
                new TeacherPassSettings(64, null, 2, "f32"),
                new TeacherPassSettings(16, null, 2, "q16"),
                new TeacherPassSettings(64, 0.99, 2, "q16"));
    for (TeacherPassSettings s : settings) {
      Seen seen = new Seen();
      long t0 = System.nanoTime();
      RunResult r =
          Recipes.run(
              passSpec(teacher, s),
              new RunContext(
                  root.resolve("pass-" + s.topK() + s.encoding()),
                  Map.of(),
                  seen,
                  null,
                  null,
                  null,
                  null,
                  store));
      double wall = (System.nanoTime() - t0) / 1e9;
      Map<String, Double> m = r.metrics();
      System.out.printf(
          Locale.ROOT,
          "teacher_pass top_k %d%s %s: %,.0f positions, %,.0f bytes = %.1f bytes/position;"
              + " %,.0f positions/s in the forward+write, %.1f s wall (model load, data, hashing"
              + " included)%n",
          s.topK(),
          s.massBound() == null ? "" : " mass_bound " + s.massBound(),
          s.encoding(),
          m.get("cache_positions"),
          m.get("cache_bytes"),
          m.get("cache_bytes_per_position"),
          m.getOrDefault("teacher_positions_per_s", Double.NaN),
          wall);
      if (s.topK() == 64 && s.massBound() == null && s.encoding().equals("q16")) {
        cache64 = r.lastCheckpoint().dir();
      }
    }
    if (!stepsOnly) {
      heldOutKl(teacherDir);
    }

    // steps: cached distill, online distill, finetune, in alternating rounds (a shared machine's
    // speed drifts between runs)
    double cachedWall = 0;
    double onlineWall = 0;
    for (int round = 1; round <= 2; round++) {
      Seen cached = new Seen();
      long c0 = System.nanoTime();
      Recipes.run(
          distillSpec(null, "job:" + teacherId, WARMUP + steps),
          new RunContext(root.resolve("cached" + round), Map.of(teacherId, cache64), cached, null));
      cachedWall = (System.nanoTime() - c0) / 1e9;
      Seen online = new Seen();
      long o0 = System.nanoTime();
      Recipes.run(
          distillSpec(teacher, null, WARMUP + steps),
          new RunContext(root.resolve("online" + round), Map.of(), online, null));
      onlineWall = (System.nanoTime() - o0) / 1e9;
      Seen finetune = new Seen();
      Recipes.run(
          new JobSpec(
              JobType.FINETUNE,
              null,
              MODEL,
              data(),
              hp(WARMUP + steps),
              null,
              null,
              null,
              null,
              null),
          new RunContext(root.resolve("finetune" + round), Map.of(), finetune, null));
      double c = cached.medianStepMs();
      double o = online.medianStepMs();
      double f = finetune.medianStepMs();
      System.out.printf(
          Locale.ROOT,
          "round %d, median step, batch %dx%d, %d measured steps: cached distill %.1f ms wall"
              + " (%.1f ms CPU; last kd %.3f), online distill %.1f ms (%.1f ms CPU; last kd %.3f),"
              + " finetune %.1f ms (%.1f ms CPU); cached/finetune %.3f wall, %.3f CPU;"
              + " online/cached %.3f wall, %.3f CPU; load %s%n",
          round,
          BATCH,
          SEQ,
          steps,
          c,
          cached.medianCpuMs(),
          cached.steps.get(cached.steps.size() - 1).kd(),
          o,
          online.medianCpuMs(),
          online.steps.get(online.steps.size() - 1).kd(),
          f,
          finetune.medianCpuMs(),
          c / f,
          cached.medianCpuMs() / finetune.medianCpuMs(),
          o / c,
          online.medianCpuMs() / cached.medianCpuMs(),
          TrainStepBenchmark.loadAverage());
    }
    // two students: one pass (the q16 top-64 one, timed again without reuse) + two cached runs
    Seen pass = new Seen();
    long p0 = System.nanoTime();
    Recipes.run(
        passSpec(teacher, new TeacherPassSettings(64, null, 1, "q16")),
        new RunContext(
            root.resolve("pass-e2e"),
            Map.of(),
            pass,
            null,
            null,
            null,
            null,
            root.resolve("fresh")));
    double passWall = (System.nanoTime() - p0) / 1e9;
    System.out.printf(
        Locale.ROOT,
        "two students of %d steps: one pass %.1f s + 2 x cached %.1f s = %.1f s against 2 x online"
            + " %.1f s = %.1f s (ratio %.3f)%n",
        WARMUP + steps,
        passWall,
        cachedWall,
        passWall + 2 * cachedWall,
        onlineWall,
        2 * onlineWall,
        (passWall + 2 * cachedWall) / (2 * onlineWall));
    System.out.printf(Locale.ROOT, "load average after: %s%n", TrainStepBenchmark.loadAverage());
  }

  private static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean)
            java.lang.management.ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }

  private static JobSpec passSpec(ModelRef teacher, TeacherPassSettings s) {
    return new JobSpec(
        JobType.TEACHER_PASS,
        teacher,
        null,
        data(),
        hp(1),
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        s);
  }

  private static JobSpec distillSpec(ModelRef teacher, String logits, int steps) {
    return new JobSpec(
        JobType.DISTILL,
        teacher,
        MODEL,
        data(),
        hp(steps),
        null,
        null,
        null,
        null,
        null,
        null,
        logits,
        null);
  }

  /**
   * On the validation split: the teacher's full distribution P against the cache's reconstruction
   * P^ (the stored top-k, the tail mass spread evenly over the other ids), KL(P || P^) per
   * position, and the mean tail mass; for top_k 16 and 64, q16.
   */
  private static void heldOutKl(Path teacherDir) {
    ByteTokenizer tok = ByteTokenizer.instance();
    DatasetSplits splits = Datasets.open(data(), tok);
    List<Sequence> held = splits.validation().subList(0, Math.min(60, splits.validation().size()));
    int vocab = tok.vocabSize();
    try (NDManager manager = NDManager.newBaseManager();
        Gemma2Model model = Gemma2Model.load(teacherDir, manager)) {
      model.requireGradients(false);
      for (int k : new int[] {16, 64}) {
        CacheKey key =
            new CacheKey("bench", "byte", vocab, "gemma", "held-out", Map.of(), k, null, "q16");
        Path dir;
        try {
          dir = Files.createTempDirectory("held-out-");
        } catch (java.io.IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
        TeacherPass pass =
            new TeacherPass(
                model,
                held,
                tok.padId(),
                key,
                new TeacherPass.Settings(k, null, 1, LogProbEncoding.Q16, BATCH, 512),
                manager);
        pass.writeShard(dir, 0, () -> false, n -> {});
        pass.seal(dir);
        double kl = 0;
        double tail = 0;
        long n = 0;
        try (TeacherCache cache = TeacherCache.open(dir)) {
          for (int s = 0; s < held.size(); s++) {
            Batch b = Batch.of(List.of(held.get(s)), 0, tok.padId());
            float[] z;
            try (NDManager step = manager.newSubManager();
                NoGrad ignored = NoGrad.enter()) {
              NDArray ids = step.create(b.inputIds(), new Shape(1, b.seqLen()));
              // packed rows: the documents' block-diagonal mask, as the pass used
              NDArray attention = step.create(b.attentionMask(), new Shape(1, b.seqLen()));
              z = model.forward(ids, attention).toFloatArray(); // (1, T, V_model)
            }
            int vm = model.vocabSize();
            TeacherTargets e = cache.targets(s);
            int pos = 0;
            for (int i = 0; i < b.lossMask().length; i++) {
              if (b.lossMask()[i] == 0f) {
                continue;
              }
              double[] p = new double[vocab];
              double max = Double.NEGATIVE_INFINITY;
              for (int v = 0; v < vocab; v++) {
                max = Math.max(max, z[i * vm + v]);
              }
              double sum = 0;
              for (int v = 0; v < vocab; v++) {
                p[v] = Math.exp(z[i * vm + v] - max);
                sum += p[v];
              }
              double[] rec = new double[vocab];
              double stored = 0;
              for (int j = 0; j < e.counts()[pos]; j++) {
                rec[e.ids()[pos * k + j]] = Math.exp(e.logProbs()[pos * k + j]);
                stored += rec[e.ids()[pos * k + j]];
              }
              double pt = Math.exp(e.logTail()[pos]);
              int rest = vocab - e.counts()[pos];
              double norm = stored + pt; // 1 up to q16's rounding
              for (int v = 0; v < vocab; v++) {
                if (rec[v] == 0 && rest > 0) {
                  rec[v] = pt / rest;
                }
              }
              for (int v = 0; v < vocab; v++) {
                double pv = p[v] / sum;
                if (pv > 0) {
                  kl += pv * Math.log(pv / (rec[v] / norm));
                }
              }
              tail += pt;
              n++;
              pos++;
            }
          }
        }
        System.out.printf(
            Locale.ROOT,
            "held-out, %d sequences, %,d positions, top_k %d q16: KL(P || reconstruction) mean %.3e"
                + " nats per position; mean tail mass %.3e%n",
            held.size(),
            n,
            k,
            kl / n,
            tail / n);
      }
    }
  }
}
