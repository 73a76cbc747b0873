package dev.distill.trainer.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.distill.spec.DatasetSpec;
import dev.distill.spec.Hyperparameters;
import dev.distill.spec.JobSpec;
import dev.distill.spec.JobType;
import dev.distill.spec.LoraSpec;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.loss.KdLoss;
import dev.distill.trainer.loss.KdLossConfig;
import dev.distill.trainer.model.gemma2.Gemma2Config;
import dev.distill.trainer.model.gemma2.Gemma2Lora;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.optim.AdamW;
import dev.distill.trainer.optim.OptimizerConfig;
import dev.distill.trainer.recipe.Recipes;
import dev.distill.trainer.recipe.RunContext;
import dev.distill.trainer.recipe.RunResult;
import dev.distill.trainer.recipe.StepMetrics;
import dev.distill.trainer.recipe.TrainingListener;
import dev.distill.trainer.safetensors.SafetensorsFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * LoRA against full finetuning of one model, side by side in one JVM: trainable parameters, the
 * optimiser state a run through the real recipe really wrote (AdamW's two moments, read back from
 * its final checkpoint) and the adapter checkpoint against the full one; then the step time of both
 * on the same synthetic batches, steps alternating between the two models (forward, chunked
 * cross-entropy and backward, clipping and AdamW), so that both see the same machine and a busy
 * neighbour slows both alike: medians of each and the median of the per-pair ratio. Then {@code
 * plan}: the memory arithmetic of a gemma2-9b LoRA student with a gemma2-27b teacher on one 141 GB
 * GPU, from the presets' shapes (arithmetic only: nothing runs on a GPU).
 *
 * <p>Usage: {@code java -cp ... dev.distill.trainer.bench.LoraBenchmark [pairs | plan]}.
 */
public final class LoraBenchmark {

  static final int BATCH = 8;
  static final int SEQ = 128;
  static final int WARMUP = 3;
  static final LoraSpec LORA = new LoraSpec(8, 16.0, 0.0, null); // every projection

  private LoraBenchmark() {}

  /** A 16M-parameter Gemma 2: d=512, MLP 2048, 4 layers, 8/4 heads of 64, vocab 512. */
  static Map<String, Object> model() {
    return Map.of(
        "hidden_size", 512,
        "intermediate_size", 2048,
        "num_hidden_layers", 4,
        "num_attention_heads", 8,
        "num_key_value_heads", 4,
        "head_dim", 64,
        "query_pre_attn_scalar", 64,
        "sliding_window", 128,
        "vocab_size", 512);
  }

  public static void main(String[] args) throws Exception {
    if (args.length > 0 && args[0].equals("plan")) {
      plan();
      return;
    }
    int steps = args.length > 0 ? Integer.parseInt(args[0]) : 10;
    Gemma2Config config = Gemma2Config.preset("gemma2-tiny").withOverrides(model());
    System.out.printf(
        Locale.ROOT,
        "machine: %d cores; load average before: %s%n",
        Runtime.getRuntime().availableProcessors(),
        TrainStepBenchmark.loadAverage());
    long full = config.parameterCount();
    long lora = Gemma2Lora.parameterCount(config, LORA);
    System.out.printf(
        Locale.ROOT,
        "model: %,d parameters; LoRA rank %d alpha %.0f on all 7 projections: %,d trainable"
            + " (%.2f%%)%n",
        full,
        LORA.rank(),
        LORA.alpha(),
        lora,
        100.0 * lora / full);
    for (Run r : List.of(run(null, 2), run(LORA, 2))) {
      System.out.printf(
          Locale.ROOT,
          "%-4s (recipe, 2 steps): optimiser state %,d bytes (%,d tensors); weights in the"
              + " checkpoint %,d bytes%n",
          r.lora ? "lora" : "full",
          r.optimizerBytes,
          r.optimizerTensors,
          r.weightBytes);
    }
    pairedSteps(config, steps);
    System.out.printf(Locale.ROOT, "load average after: %s%n", TrainStepBenchmark.loadAverage());
  }

  /**
   * Step times of full finetuning and LoRA on the same synthetic batches, alternating step by step.
   */
  static void pairedSteps(Gemma2Config config, int steps) {
    KdLoss loss = new KdLoss(KdLossConfig.crossEntropyOnly(128), null);
    OptimizerConfig opt = OptimizerConfig.from(Hyperparameters.defaults());
    try (NDManager manager = NDManager.newBaseManager();
        Gemma2Model full = Gemma2Model.init(config, manager, 1);
        Gemma2Model lora = Gemma2Model.init(config, manager, 1)) {
      full.requireGradients(true);
      lora.attach(Gemma2Lora.init(config, LORA, "base", manager, 2));
      lora.requireGradients(true);
      Gemma2Model[] models = {full, lora};
      try (AdamW fullOpt = new AdamW(opt, full.parameters(), manager);
          AdamW loraOpt = new AdamW(opt, lora.parameters(), manager)) {
        AdamW[] opts = {fullOpt, loraOpt};
        Random r = new Random(3);
        int[] ids = new int[BATCH * SEQ];
        for (int i = 0; i < ids.length; i++) {
          ids[i] = r.nextInt(config.vocabSize());
        }
        int[] ones = new int[BATCH * SEQ];
        Arrays.fill(ones, 1);
        Shape bt = new Shape(BATCH, SEQ);
        List<List<Double>> ms = List.of(new ArrayList<>(), new ArrayList<>());
        List<Double> ratios = new ArrayList<>();
        for (int s = 0; s < WARMUP + steps; s++) {
          double[] pair = new double[2];
          for (int v = 0; v < 2; v++) {
            try (NDManager m = manager.newSubManager();
                GradientCollector collector = Engine.getInstance().newGradientCollector()) {
              NDArray x = m.create(ids, bt); // (B, T)
              NDArray mask = m.create(ones, bt); // (B, T)
              long t0 = System.nanoTime();
              NDArray h = models[v].hidden(x, mask); // (B, T, D)
              loss.backward(
                      collector, KdLoss.Hidden.student(models[v], h), x, mask, (long) BATCH * SEQ)
                  .total()
                  .getFloat();
              opts[v].clipAndStep();
              pair[v] = (System.nanoTime() - t0) / 1e6;
            }
          }
          if (s >= WARMUP) {
            ms.get(0).add(pair[0]);
            ms.get(1).add(pair[1]);
            ratios.add(pair[1] / pair[0]);
          }
        }
        System.out.printf(
            Locale.ROOT,
            "step time, %d alternating pairs of %dx%d synthetic tokens: full median %.1f ms (min"
                + " %.1f), LoRA median %.1f ms (min %.1f); median LoRA/full ratio %.2f%n",
            steps,
            BATCH,
            SEQ,
            median(ms.get(0)),
            Collections.min(ms.get(0)),
            median(ms.get(1)),
            Collections.min(ms.get(1)),
            median(ratios));
      }
    }
  }

  static double median(List<Double> values) {
    List<Double> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    return sorted.get(sorted.size() / 2);
  }

  record Run(
      boolean lora,
      double medianMs,
      double minMs,
      double maxMs,
      long optimizerBytes,
      int optimizerTensors,
      long weightBytes,
      double firstLoss,
      double lastLoss) {}

  /** One finetune through the recipe, full (lora null) or LoRA. */
  static Run run(LoraSpec lora, int steps) throws IOException {
    ModelRef s = new ModelRef("builtin:gemma2-tiny", model(), null);
    DatasetSpec data =
        new DatasetSpec("builtin:procedural", null, null, SEQ, 0.0, true, true, 4000, 7L);
    Hyperparameters hp =
        Hyperparameters.builder()
            .maxSteps(WARMUP + steps)
            .batchSize(BATCH)
            .learningRate(lora == null ? 1e-3 : 1e-2)
            .warmupSteps(0)
            .seed(1L)
            .checkpointEvery(1_000_000)
            .keepCheckpoints(1)
            .evalEvery(0)
            .lora(lora)
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
    Path dir = Files.createTempDirectory("bench-lora-");
    RunResult result = Recipes.run(spec, new RunContext(dir, Map.of(), l, null));
    List<Double> secs =
        new ArrayList<>(
            seen.subList(WARMUP, seen.size()).stream().map(StepMetrics::stepSeconds).toList());
    Collections.sort(secs);
    Path ckpt = result.lastCheckpoint().dir();
    long optimizerBytes = 0;
    int tensors = 0;
    try (SafetensorsFile f = SafetensorsFile.open(ckpt.resolve("optimizer.safetensors"))) {
      for (var info : f.tensors().values()) {
        optimizerBytes += info.shape().size() * 4; // fp32
        tensors++;
      }
    }
    long weightBytes =
        Files.size(ckpt.resolve(lora == null ? "model.safetensors" : Gemma2Lora.WEIGHTS_FILE));
    return new Run(
        lora != null,
        secs.get(secs.size() / 2) * 1e3,
        secs.get(0) * 1e3,
        secs.get(secs.size() - 1) * 1e3,
        optimizerBytes,
        tensors,
        weightBytes,
        seen.get(0).loss(),
        seen.get(seen.size() - 1).loss());
  }

  /**
   * The memory of a gemma2-9b LoRA student distilled from gemma2-27b on one GPU of 141 GB (an
   * H200), in bf16 for the frozen weights, fp32 for the adapters, their gradients and AdamW's
   * moments. Activations are estimated per token and layer as the values the backward pass keeps in
   * this model's composed attention: about 10 D + 3 I + 3 H S (norm inputs and outputs, q/k/v and
   * the attention output, gate/up/GeGLU, and three arrays over S keys per head: the scores, their
   * soft-capped tanh and the probabilities). The teacher runs without gradients: its activations
   * live one layer at a time and are left out.
   */
  static void plan() {
    Gemma2Config student = Gemma2Config.preset("gemma2-9b");
    Gemma2Config teacher = Gemma2Config.preset("gemma2-27b");
    double gb = 1e9;
    System.out.println("arithmetic only, from the presets' shapes; nothing here ran on a GPU");
    for (int rank : new int[] {16, 64}) {
      LoraSpec lora = new LoraSpec(rank, 2.0 * rank, 0.0, null);
      long adapters = Gemma2Lora.parameterCount(student, lora);
      System.out.printf(
          Locale.ROOT,
          "rank %d on all 7 projections: %,d adapter parameters; adapters + gradients + AdamW"
              + " moments (fp32, 16 B each) %.2f GB%n",
          rank,
          adapters,
          adapters * 16 / gb);
    }
    long adapters = Gemma2Lora.parameterCount(student, new LoraSpec(16, 32.0, 0.0, null));
    double teacherGb = teacher.parameterCount() * 2 / gb;
    double studentGb = student.parameterCount() * 2 / gb;
    double adapterGb = adapters * 16 / gb;
    long perTokenLayer =
        10L * student.hiddenSize()
            + 3L * student.intermediateSize()
            + 3L * student.numAttentionHeads() * SEQ_PLAN;
    double activationGb =
        perTokenLayer * student.numHiddenLayers() * 2.0 * TOKENS_PLAN / gb; // bf16
    // the chunked loss: one chunk of logits, student and teacher, fp32, with the student's
    // gradient
    double lossGb = 3.0 * 64 * student.vocabSize() * 4 / gb;
    System.out.printf(
        Locale.ROOT,
        "teacher gemma2-27b %,d parameters, bf16 frozen: %.1f GB%n"
            + "student gemma2-9b %,d parameters, bf16 frozen base: %.1f GB%n"
            + "LoRA rank 16 state: %.2f GB%n"
            + "activations kept for backward, micro-batch %d tokens (1 x %d), bf16: %.1f GB"
            + " (%,d values per token per layer x %d layers)%n"
            + "loss chunk (64 tokens x 256k vocab, fp32, 3 arrays): %.2f GB%n"
            + "sum: %.1f GB of 141 GB%n",
        teacher.parameterCount(),
        teacherGb,
        student.parameterCount(),
        studentGb,
        adapterGb,
        TOKENS_PLAN,
        SEQ_PLAN,
        activationGb,
        perTokenLayer,
        student.numHiddenLayers(),
        lossGb,
        teacherGb + studentGb + adapterGb + activationGb + lossGb);
    double fullState = student.parameterCount() * 16 / gb;
    System.out.printf(
        Locale.ROOT,
        "full finetuning instead: fp32 weights + gradients + AdamW moments of the student alone"
            + " %.1f GB (+ %.1f GB teacher): does not fit%n"
            + "today's CPU path keeps every weight in fp32: teacher %.1f GB + student %.1f GB ="
            + " %.1f GB before activations: does not fit; the bf16 base is what makes it fit%n",
        fullState,
        teacherGb,
        teacherGb * 2,
        studentGb * 2,
        (teacherGb + studentGb) * 2);
  }

  static final int SEQ_PLAN = 2048;
  static final int TOKENS_PLAN = 2048;
}
