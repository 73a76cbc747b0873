package dev.distill.trainer.bench;

import dev.distill.spec.DatasetSpec;
import dev.distill.spec.Hyperparameters;
import dev.distill.spec.JobSpec;
import dev.distill.spec.JobType;
import dev.distill.spec.LoraSpec;
import dev.distill.spec.ModelRef;
import dev.distill.spec.TeacherPassSettings;
import dev.distill.trainer.data.Batch;
import dev.distill.trainer.data.Datasets;
import dev.distill.trainer.data.Sequence;
import dev.distill.trainer.recipe.Recipes;
import dev.distill.trainer.recipe.RunContext;
import dev.distill.trainer.recipe.RunResult;
import dev.distill.trainer.recipe.StepMetrics;
import dev.distill.trainer.recipe.TrainingListener;
import dev.distill.trainer.tokenize.ByteTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Our side of {@code bench/step_compare.py}, which runs it as a child process between its own
 * Hugging Face transformers steps (same machine, same threads, interleaved rounds). The model is
 * {@link TrainStepBenchmark}'s 2.1M-parameter student at batch 8 x 128 (packed {@code
 * builtin:procedural}); every step goes through the real recipe ({@code Recipes.run}).
 *
 * <p>Modes (each prints one {@code RESULT <json>} line per measurement, step times in ms):
 *
 * <ul>
 *   <li>{@code setup DIR}: a teacher checkpoint of the student's shape (4 finetune steps) and a
 *       {@code teacher_pass} cache of it (top_k 64, q16) under DIR.
 *   <li>{@code round DIR STEPS}: finetune, online distill (the teacher of DIR), cached distill (the
 *       cache of DIR) and LoRA finetune (r 8 on every projection), each WARMUP + STEPS steps, in
 *       this order; every measured step time.
 *   <li>{@code e2e DIR STEPS}: one fresh teacher pass plus two cached students against two online
 *       students of WARMUP + STEPS steps, wall seconds.
 *   <li>{@code demo-setup DIR}: the demo's teacher ({@code gemma2-demo-teacher}, 1,200 finetune
 *       steps on 20,000 procedural examples, the settings of {@code DemoPlan.standard()}, copied
 *       here because the trainer never imports the application), its checkpoint under DIR.
 *   <li>{@code demo-e2e DIR [STEPS [ROUNDS]]}: the demo's two-student comparison at its scale: per
 *       round, interleaved, online student A, the teacher pass (top_k 32, 2 shards), cached student
 *       A, online student B, cached student B ({@code gemma2-demo-student}, STEPS steps each,
 *       default 600, seeds 1234 and 1235, 2,000 examples); wall and process CPU seconds of each
 *       part, per-step medians and the pass's positions.
 * </ul>
 */
public final class StepCompareBenchmark {

  private static final int WARMUP = TrainStepBenchmark.WARMUP;

  /**
   * Steps of the throwaway run of each kind that warms a round's JVM before its measured run
   * ({@code -Dbench.jvm_warmup=N}; 0: none, each kind measured from a cold JVM after WARMUP steps).
   */
  static final int JVM_WARMUP_STEPS = Integer.getInteger("bench.jvm_warmup", 60);

  private static final String TEACHER_ID = "22222222-2222-2222-2222-222222222222";
  static final ModelRef MODEL =
      new ModelRef("builtin:gemma2-tiny", TrainStepBenchmark.student(512), null);

  private StepCompareBenchmark() {}

  static DatasetSpec data() {
    return new DatasetSpec(
        "builtin:procedural", null, null, TrainStepBenchmark.SEQ, 0.0, true, true, 1500, 7L);
  }

  static Hyperparameters hp(int steps, LoraSpec lora) {
    return Hyperparameters.builder()
        .maxSteps(steps)
        .batchSize(TrainStepBenchmark.BATCH)
        .microBatchSize(TrainStepBenchmark.BATCH)
        .learningRate(1e-3)
        .warmupSteps(0)
        .gradClip(1.0)
        .seed(1L)
        .checkpointEvery(1_000_000)
        .keepCheckpoints(1)
        .evalEvery(0)
        .lora(lora)
        .build();
  }

  /**
   * {@code -Dbench.lockstep=true}: after each step the run prints {@code STEP <kind> <measured>}
   * and waits for a line on standard input, so that {@code step_compare.py} runs its anchors' steps
   * of that kind in between: each of our steps and the anchors' it is compared with run seconds
   * apart, whatever a shared machine does over minutes. The wait is in neither side's times.
   */
  static final boolean LOCKSTEP = Boolean.getBoolean("bench.lockstep");

  private static final String TRACE = System.getProperty("bench.trace");
  private static boolean traced;

  private static final java.io.BufferedReader IN =
      new java.io.BufferedReader(
          new java.io.InputStreamReader(System.in, java.nio.charset.StandardCharsets.UTF_8));

  private static final class Seen implements TrainingListener {
    final List<StepMetrics> steps = new ArrayList<>();
    final List<Long> cpuAtEnd = new ArrayList<>(); // process CPU time when each step ended
    final List<Long> cpuAtStart = new ArrayList<>(); // when the next could start (after a wait)
    final String kind; // the kind of step, for the lockstep protocol
    final boolean measured; // false: a warm-up run, whose steps the anchors do not follow

    Seen(String kind, boolean measured) {
      this.kind = kind;
      this.measured = measured;
    }

    @Override
    public void onStep(StepMetrics m) {
      steps.add(m);
      cpuAtEnd.add(cpuNanos());
      if (TRACE != null && measured) {
        // -Dbench.trace=FILE: PyTorch's profiler over the measured steps of the first measured run
        if (steps.size() == WARMUP && !traced) {
          ai.djl.pytorch.jni.JniUtils.startProfile(false, false, false);
        } else if (m.step() == m.maxSteps() && !traced && steps.size() > WARMUP) {
          ai.djl.pytorch.jni.JniUtils.stopProfile(TRACE);
          traced = true;
        }
      }
      if (LOCKSTEP) {
        boolean measuredStep = measured && steps.size() > WARMUP;
        System.out.println("STEP " + kind + " " + (measuredStep ? 1 : 0));
        System.out.flush();
        try {
          if (IN.readLine() == null) {
            throw new IllegalStateException("step_compare.py went away");
          }
        } catch (java.io.IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }
      cpuAtStart.add(cpuNanos());
    }

    /** Process CPU time (all threads) of each measured step, without the waits between steps. */
    List<Double> measuredCpuMs() {
      List<Double> d = new ArrayList<>();
      for (int i = WARMUP; i < cpuAtEnd.size(); i++) {
        d.add((cpuAtEnd.get(i) - cpuAtStart.get(i - 1)) / 1e6);
      }
      return d;
    }

    List<Double> measuredMs() {
      return steps.subList(WARMUP, steps.size()).stream().map(m -> m.stepSeconds() * 1e3).toList();
    }
  }

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[1]);
    switch (args[0]) {
      case "setup" -> setup(dir);
      case "round" ->
          round(
              dir,
              Integer.parseInt(args[2]),
              args.length > 3 ? args[3] : "finetune,online,cached,lora");
      case "e2e" -> e2e(dir, Integer.parseInt(args[2]));
      case "demo-setup" -> demoSetup(dir);
      case "demo-e2e" ->
          demoE2e(
              dir,
              args.length > 2 ? Integer.parseInt(args[2]) : DEMO_STUDENT_STEPS,
              args.length > 3 ? Integer.parseInt(args[3]) : 1);
      default ->
          throw new IllegalArgumentException(
              "mode setup|round|e2e|demo-setup|demo-e2e, was " + args[0]);
    }
  }

  private static void setup(Path dir) throws Exception {
    RunResult t =
        Recipes.run(
            new JobSpec(
                JobType.FINETUNE, null, MODEL, data(), hp(4, null), null, null, null, null, null),
            new RunContext(dir.resolve("teacher-run"), Map.of(), null, null));
    Path teacher = t.lastCheckpoint().dir();
    RunResult p = pass(dir.resolve("pass"), teacher, dir.resolve("store"));
    Files.writeString(dir.resolve("teacher.path"), teacher.toString());
    Files.writeString(dir.resolve("cache.path"), p.lastCheckpoint().dir().toString());
    // the first training batch, so that the anchors train on the same ids and loss mask
    ByteTokenizer tok = ByteTokenizer.instance();
    List<Sequence> rows = Datasets.open(data(), tok).train().subList(0, TrainStepBenchmark.BATCH);
    Batch b = Batch.of(rows, TrainStepBenchmark.SEQ, tok.padId());
    Files.writeString(
        dir.resolve("batch.json"),
        "{\"input_ids\": "
            + Arrays.toString(b.inputIds())
            + ", \"labels\": "
            + Arrays.toString(b.labels())
            + ", \"loss_mask\": "
            + Arrays.toString(b.lossMask())
            + ", \"attention_mask\": "
            + Arrays.toString(b.attentionMask())
            + "}");
    result("setup", Map.of("teacher", teacher.toString()), List.of());
  }

  private static RunResult pass(Path out, Path teacher, Path store) throws Exception {
    return Recipes.run(
        new JobSpec(
            JobType.TEACHER_PASS,
            ModelRef.of("file:" + teacher),
            null,
            data(),
            hp(1, null),
            null,
            null,
            null,
            null,
            null,
            null,
            null,
            new TeacherPassSettings(64, null, 1, "q16")),
        new RunContext(out, Map.of(), null, null, null, null, null, store));
  }

  private static JobSpec distill(Path teacher, int steps) {
    return new JobSpec(
        JobType.DISTILL,
        teacher == null ? null : ModelRef.of("file:" + teacher),
        MODEL,
        data(),
        hp(steps, null),
        null,
        null,
        null,
        null,
        null,
        null,
        teacher == null ? "job:" + TEACHER_ID : null,
        null);
  }

  private static Seen run(Path out, JobSpec spec, Map<String, Path> artifacts) throws Exception {
    return run(out, spec, artifacts, "other", false);
  }

  private static Seen run(
      Path out, JobSpec spec, Map<String, Path> artifacts, String kind, boolean measured)
      throws Exception {
    Seen seen = new Seen(kind, measured);
    Recipes.run(spec, new RunContext(out, artifacts, seen, null));
    return seen;
  }

  private static void round(Path dir, int steps, String kinds) throws Exception {
    List<String> only = List.of(kinds.split(","));
    Path teacher = Path.of(Files.readString(dir.resolve("teacher.path")));
    Path cache = Path.of(Files.readString(dir.resolve("cache.path")));
    Path work = Files.createTempDirectory(dir, "round-");
    String p = System.getProperty("bench.prefix", "ours");
    for (String kind : only) {
      // a fresh JVM runs its first DJL calls interpreted and compiles them for several seconds on
      // the same cores (its first 20 or so steps take 1.2-1.4 times as long): a throwaway run of
      // each kind first, so that every measured step is a warm process's, as the anchors' are (one
      // long-lived Python process)
      if (JVM_WARMUP_STEPS > 0) {
        run(
            work.resolve("warm-" + kind),
            kind(kind, JVM_WARMUP_STEPS, teacher),
            artifacts(kind, cache));
      }
      String name =
          switch (kind) {
            case "online" -> "_distill_online";
            case "cached" -> "_distill_cached";
            default -> "_" + kind;
          };
      result(
          p + name,
          Map.of(),
          run(
              work.resolve(kind),
              kind(kind, WARMUP + steps, teacher),
              artifacts(kind, cache),
              kind,
              true));
    }
  }

  /** The spec of one kind of step: finetune, online (distill), cached (distill) or lora. */
  private static JobSpec kind(String kind, int steps, Path teacher) {
    return switch (kind) {
      case "finetune", "lora" ->
          new JobSpec(
              JobType.FINETUNE,
              null,
              MODEL,
              data(),
              hp(steps, kind.equals("lora") ? new LoraSpec(8, 16.0, 0.0, null) : null),
              null,
              null,
              null,
              null,
              null);
      case "online" -> distill(teacher, steps);
      case "cached" -> distill(null, steps);
      default -> throw new IllegalArgumentException("kind finetune|online|cached|lora: " + kind);
    };
  }

  private static Map<String, Path> artifacts(String kind, Path cache) {
    return kind.equals("cached") ? Map.of(TEACHER_ID, cache) : Map.of();
  }

  private static void e2e(Path dir, int steps) throws Exception {
    Path teacher = Path.of(Files.readString(dir.resolve("teacher.path")));
    Path work = Files.createTempDirectory(dir, "e2e-");
    int n = WARMUP + steps;
    // warm the JVM and libtorch once so that neither side pays for the first run alone
    run(work.resolve("warm"), distill(teacher, 2), Map.of());
    long t0 = System.nanoTime();
    RunResult p = pass(work.resolve("pass"), teacher, work.resolve("store"));
    double passS = (System.nanoTime() - t0) / 1e9;
    Map<String, Path> cache = Map.of(TEACHER_ID, p.lastCheckpoint().dir());
    double[] cachedS = new double[2];
    double[] onlineS = new double[2];
    for (int i = 0; i < 2; i++) {
      long c0 = System.nanoTime();
      run(work.resolve("cached" + i), distill(null, n), cache);
      cachedS[i] = (System.nanoTime() - c0) / 1e9;
      long o0 = System.nanoTime();
      run(work.resolve("online" + i), distill(teacher, n), Map.of());
      onlineS[i] = (System.nanoTime() - o0) / 1e9;
    }
    result(
        "e2e",
        Map.of(
            "steps",
            n,
            "pass_s",
            passS,
            "cached_s",
            List.of(cachedS[0], cachedS[1]),
            "online_s",
            List.of(onlineS[0], onlineS[1])),
        List.of());
  }

  // DemoPlan.standard(), copied: the trainer never imports the application (LibraryBoundaryTest)
  static final int DEMO_STUDENT_STEPS = 600;
  private static final int DEMO_TEACHER_STEPS = 1200;
  private static final long DEMO_SEED = 1234L;

  static DatasetSpec demoData(int examples) {
    return new DatasetSpec(
        "builtin:procedural", "alpaca", "gemma", 64, 0.05, null, null, examples, DEMO_SEED);
  }

  static Hyperparameters demoHp(int steps, long seed, boolean distill) {
    Hyperparameters.Builder b =
        Hyperparameters.builder()
            .maxSteps(steps)
            .batchSize(16)
            .learningRate(3e-3)
            .warmupSteps(Math.max(1, steps / 20))
            .checkpointEvery(Math.max(1, steps / 4))
            .keepCheckpoints(2)
            .evalEvery(Math.max(1, steps / 10))
            .seed(seed);
    if (distill) {
      b.temperature(1.0).kdRatio(1.0).kdLoss("forward_kl");
    }
    return b.build();
  }

  private static void demoSetup(Path dir) throws Exception {
    long c0 = cpuNanos();
    long t0 = System.nanoTime();
    RunResult t =
        Recipes.run(
            new JobSpec(
                JobType.FINETUNE,
                null,
                ModelRef.of("builtin:gemma2-demo-teacher"),
                demoData(20000),
                demoHp(DEMO_TEACHER_STEPS, DEMO_SEED, false),
                null,
                null,
                null,
                null,
                null),
            new RunContext(dir.resolve("demo-teacher-run"), Map.of(), null, null));
    Path teacher = t.lastCheckpoint().dir();
    Files.writeString(dir.resolve("demo-teacher.path"), teacher.toString());
    result(
        "demo_setup",
        Map.of(
            "teacher",
            teacher.toString(),
            "wall_s",
            (System.nanoTime() - t0) / 1e9,
            "cpu_s",
            (cpuNanos() - c0) / 1e9),
        List.of());
  }

  private static long cpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean)
            java.lang.management.ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }

  private static JobSpec demoStudent(Path teacher, int steps, long seed) {
    return new JobSpec(
        JobType.DISTILL,
        teacher == null ? null : ModelRef.of("file:" + teacher),
        ModelRef.of("builtin:gemma2-demo-student"),
        demoData(2000),
        demoHp(steps, seed, true),
        null,
        null,
        null,
        null,
        null,
        null,
        teacher == null ? "job:" + TEACHER_ID : null,
        null);
  }

  /** Wall and process CPU seconds of one part, its per-step medians, and the part's metrics. */
  private static void demoPart(String name, long t0, long c0, Seen seen, Map<String, Double> m) {
    double wall = (System.nanoTime() - t0) / 1e9;
    double cpu = (cpuNanos() - c0) / 1e9;
    Map<String, Object> f = new java.util.LinkedHashMap<>();
    f.put("wall_s", wall);
    f.put("cpu_s", cpu);
    if (seen != null) {
      f.put("steps", (double) seen.steps.size());
      f.put("step_ms_median", median(seen.measuredMs()));
      f.put("step_cpu_ms_median", median(seen.measuredCpuMs()));
    }
    if (m != null) {
      m.forEach(
          (k, v) -> {
            if (k.startsWith("cache_") || k.startsWith("teacher_") || k.equals("sequences_done")) {
              f.put(k, v);
            }
          });
    }
    result(name, f, List.of());
  }

  private static double median(List<Double> v) {
    if (v.isEmpty()) {
      return Double.NaN;
    }
    List<Double> s = v.stream().sorted().toList();
    int n = s.size();
    return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
  }

  private static void demoE2e(Path dir, int steps, int rounds) throws Exception {
    Path teacher = Path.of(Files.readString(dir.resolve("demo-teacher.path")));
    Path work = Files.createTempDirectory(dir, "demo-e2e-");
    // warm the JVM and libtorch once so that neither arm pays for the first run alone
    run(work.resolve("warm"), demoStudent(teacher, 4, 1L), Map.of());
    long[] seeds = {DEMO_SEED, DEMO_SEED + 1};
    for (int r = 0; r < rounds; r++) {
      Path w = work.resolve("r" + r);
      for (int i = 0; i < 2; i++) {
        String tag = "r" + r + "_" + (char) ('a' + i);
        long t0 = System.nanoTime();
        long c0 = cpuNanos();
        Seen on = run(w.resolve("online" + i), demoStudent(teacher, steps, seeds[i]), Map.of());
        demoPart("demo_online_" + tag, t0, c0, on, null);
        if (i == 0) {
          t0 = System.nanoTime();
          c0 = cpuNanos();
          RunResult p =
              Recipes.run(
                  new JobSpec(
                      JobType.TEACHER_PASS,
                      ModelRef.of("file:" + teacher),
                      null,
                      demoData(2000),
                      demoHp(1, DEMO_SEED, false),
                      null,
                      null,
                      null,
                      null,
                      null,
                      null,
                      null,
                      new TeacherPassSettings(32, null, 2, "q16")),
                  new RunContext(
                      w.resolve("pass"),
                      Map.of(),
                      null,
                      null,
                      null,
                      null,
                      null,
                      w.resolve("store")));
          demoPart("demo_pass_r" + r, t0, c0, null, p.metrics());
          Files.writeString(w.resolve("cache.path"), p.lastCheckpoint().dir().toString());
        }
        Map<String, Path> cache =
            Map.of(TEACHER_ID, Path.of(Files.readString(w.resolve("cache.path"))));
        t0 = System.nanoTime();
        c0 = cpuNanos();
        Seen ca = run(w.resolve("cached" + i), demoStudent(null, steps, seeds[i]), cache);
        demoPart("demo_cached_" + tag, t0, c0, ca, null);
      }
    }
  }

  /** One line of JSON by hand (no extra dependency): name, extra fields, step times in ms. */
  private static void result(String name, Map<String, Object> extra, Seen seen) {
    result(name, Map.of("cpu_ms", seen.measuredCpuMs()), seen.measuredMs());
  }

  private static void result(String name, Map<String, Object> extra, List<Double> ms) {
    StringBuilder b = new StringBuilder("RESULT {\"name\": \"").append(name).append('"');
    for (Map.Entry<String, Object> e : extra.entrySet()) {
      b.append(", \"").append(e.getKey()).append("\": ").append(json(e.getValue()));
    }
    b.append(", \"ms\": ").append(json(ms)).append('}');
    System.out.println(b);
  }

  private static String json(Object v) {
    if (v instanceof List<?> l) {
      return l.stream().map(StepCompareBenchmark::json).collect(Collectors.joining(", ", "[", "]"));
    }
    if (v instanceof Double d) {
      return String.format(Locale.ROOT, "%.3f", d);
    }
    if (v instanceof Number) {
      return v.toString();
    }
    return "\"" + v + "\"";
  }
}
