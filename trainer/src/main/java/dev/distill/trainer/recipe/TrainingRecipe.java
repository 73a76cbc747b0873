package dev.distill.trainer.recipe;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import dev.distill.spec.Hyperparameters;
import dev.distill.spec.JobSpec;
import dev.distill.spec.JobType;
import dev.distill.spec.plan.Precision;
import dev.distill.trainer.cache.CacheKey;
import dev.distill.trainer.cache.TeacherCache;
import dev.distill.trainer.checkpoint.Checkpoint;
import dev.distill.trainer.checkpoint.CheckpointManager;
import dev.distill.trainer.checkpoint.TrainerState;
import dev.distill.trainer.data.Batch;
import dev.distill.trainer.data.BatchIterator;
import dev.distill.trainer.data.DatasetSplits;
import dev.distill.trainer.data.Datasets;
import dev.distill.trainer.data.LoaderState;
import dev.distill.trainer.data.MixBatchIterator;
import dev.distill.trainer.data.PromptTemplate;
import dev.distill.trainer.data.Sequence;
import dev.distill.trainer.fused.NativeKernels;
import dev.distill.trainer.loss.KdLoss;
import dev.distill.trainer.loss.KdLossConfig;
import dev.distill.trainer.loss.LossParts;
import dev.distill.trainer.model.Devices;
import dev.distill.trainer.model.NoGrad;
import dev.distill.trainer.model.gemma2.Gemma2Lora;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.model.gemma2.Gemma2WeightNames;
import dev.distill.trainer.optim.AdamW;
import dev.distill.trainer.optim.NonFiniteGradientException;
import dev.distill.trainer.optim.OptimizerConfig;
import dev.distill.trainer.safetensors.SafetensorsDtype;
import dev.distill.trainer.safetensors.SafetensorsFile;
import dev.distill.trainer.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The training recipe of {@code distill} and {@code finetune} jobs, in plain sight: {@link #setup},
 * {@link #train}, {@link #saveCheckpoint}, {@link #close}. One step: teacher forward (no grad),
 * student forward, chunked loss and backward per micro-batch, global-norm clipping, AdamW, then
 * log, evaluate and checkpoint on their cadences. Everything made during a step lives in that
 * step's sub-manager. In pure bf16 the student updates each layer inside its backward pass ({@link
 * Gemma2Model#finishBackward(Gemma2Model.WeightUpdate)}, {@link AdamW#inBackward}): one
 * micro-batch, no clipping (the spec refuses both otherwise); a non-finite gradient found half-way
 * fails the job and no checkpoint is ever written from the half-updated model ({@link
 * #finishBackwardUpdating}). A LoRA student's frozen base is held in 2 bytes in bf16-mixed ({@link
 * Models.Weights#LORA_BASE}).
 */
public final class TrainingRecipe implements AutoCloseable {

  static final String OPTIMIZER_FILE = "optimizer.safetensors";

  /**
   * Beside the step directories: the frozen base of a LoRA run whose student was not a model
   * directory already (a builtin model, or one merged from adapters).
   */
  static final String LORA_BASE_DIR = "base-model";

  private final JobSpec spec;
  private final Hyperparameters hp;
  private final RunContext ctx;
  private final String specHash;
  private final PromptTemplate template;
  private NDManager manager;
  private Precision precision;
  private Models.Loaded student;
  private Models.Loaded teacher;
  private TeacherCache cache;
  private DatasetSplits data;
  private BatchIterator batches;
  private MixBatchIterator mix; // a dataset mix's loader instead of batches; null otherwise
  private List<Batch> validation;

  /** For a dataset mix, each source's validation batches by its name (empty otherwise). */
  private Map<String, List<Batch>> validationBySource = Map.of();

  private KdLoss loss;
  private AdamW optimizer;
  private CheckpointManager checkpoints;
  private Checkpoint lastCheckpoint;
  private long step;
  private long tokensSeen;
  private Map<String, Double> lastMetrics = new LinkedHashMap<>();

  /**
   * Why the student in memory must never be saved: pure bf16 updated some of its layers inside a
   * backward pass that then failed, so it is neither the model before the step nor after it. Null
   * while it is whole.
   */
  private String halfUpdated;

  public TrainingRecipe(JobSpec spec, RunContext ctx) {
    if (spec.type() != JobType.DISTILL && spec.type() != JobType.FINETUNE) {
      throw new IllegalArgumentException(
          "the training recipe runs distill and finetune jobs, not " + spec.type().json());
    }
    this.spec = spec;
    this.hp = spec.hyperparameters();
    this.ctx = ctx;
    this.specHash = SpecHash.of(spec);
    this.template = PromptTemplate.of(spec.dataset().template());
  }

  /** Runs a job from setup to the final checkpoint. */
  public static RunResult run(JobSpec spec, RunContext ctx) {
    try (TrainingRecipe recipe = new TrainingRecipe(spec, ctx)) {
      recipe.setup();
      return recipe.train();
    }
  }

  /**
   * Models, data, loss and optimiser; resumes from the newest checkpoint of this run that verifies,
   * if there is one (newer damaged ones are set aside, each with a {@code checkpoint_skipped}
   * event).
   */
  public void setup() {
    Device device = Models.device(ctx);
    precision = Precision.resolve(hp.precision(), Devices.kind(device));
    manager = NDManager.newBaseManager(device);
    checkpoints = new CheckpointManager(ctx.checkpointDir(), hp.keepCheckpoints());
    Optional<Checkpoint> resume =
        checkpoints.latestValid(
            skipped ->
                ctx.listener()
                    .onEvent(
                        "checkpoint_skipped",
                        "skipped checkpoint "
                            + skipped.dir().getFileName()
                            + " (set aside as ."
                            + skipped.dir().getFileName()
                            + ".damaged): "
                            + skipped.reason()));
    if (resume.isPresent()) {
      Checkpoint c = resume.get();
      if (!specHash.equals(c.state().specHash())) {
        throw new IllegalArgumentException(
            c.dir()
                + ": written by another spec (spec_hash "
                + c.state().specHash()
                + ", this run "
                + specHash
                + "); use a new output directory");
      }
    }
    if (spec.type() == JobType.DISTILL && spec.teacherLogits() != null) {
      cache = openCache();
    } else if (spec.type() == JobType.DISTILL) {
      // frozen: a bf16/fp16 checkpoint stays in its dtype, never expanded to fp32
      teacher =
          Models.resolve(
              spec.teacher(), ctx, manager, hp.seed() + 1, null, precision, Models.Weights.FROZEN);
      teacher.model().requireGradients(false);
    }
    // a LoRA student's base is frozen: in bf16-mixed held as bf16 bits, as the teacher's are
    Models.Weights studentWeights =
        hp.lora() != null ? Models.Weights.LORA_BASE : Models.Weights.TRAINED;
    if (resume.isPresent()) {
      student =
          Models.load(
              resume.get().dir(), spec.student().tokenizer(), manager, precision, studentWeights);
    } else if (cache != null) {
      // a builtin student without a tokenizer of its own takes the one the cache was written with
      student =
          Models.resolve(
              spec.student(),
              ctx,
              manager,
              hp.seed(),
              cache.dir().resolve(TeacherPassRecipe.TOKENIZER_DIR),
              precision,
              studentWeights);
    } else {
      // a builtin student without a tokenizer of its own takes the teacher's
      student =
          Models.resolve(
              spec.student(),
              ctx,
              manager,
              hp.seed(),
              teacher == null ? null : teacher.tokenizerSource(),
              precision,
              studentWeights);
    }
    if (resume.isEmpty()) {
      if (hp.lora() != null) {
        try {
          Models.addAdapters(
              student,
              hp.lora(),
              checkpoints.root().resolve(LORA_BASE_DIR),
              template,
              hp.seed(),
              manager);
        } catch (IOException e) {
          throw new UncheckedIOException("cannot write the base of the LoRA student: " + e, e);
        }
      } else {
        student.model().mergeAdapters(); // a LoRA job's output trains as a full model
      }
    }
    student.model().requireGradients(true); // the adapters only, when there are some
    student.model().setActivationCheckpointing(hp.activationCheckpointing());
    Integer sharedVocab = teacher == null ? null : Models.sharedVocab(teacher, student);
    int chunk = Models.lossChunk(hp.lossChunkSize(), student, teacher);
    loss =
        new KdLoss(
            spec.type() == JobType.DISTILL
                ? KdLossConfig.from(hp, chunk)
                : KdLossConfig.crossEntropyOnly(chunk),
            sharedVocab);
    dev.distill.spec.DatasetSpec dataset = DatasetRefs.resolve(spec.dataset(), ctx);
    if (cache != null) {
      checkAgainstCache(dataset);
    }
    data = Datasets.open(dataset, student.tokenizer());
    if (data.train().isEmpty()) {
      throw new IllegalArgumentException(
          "dataset " + spec.dataset().uri() + ": no training examples");
    }
    if (cache != null && cache.manifest().sequences() != data.train().size()) {
      throw new IllegalArgumentException(
          "the teacher cache "
              + spec.teacherLogits()
              + " holds "
              + cache.manifest().sequences()
              + " training sequences, this job's data has "
              + data.train().size());
    }
    int pad = student.tokenizer().padId();
    int seqLen = batchLength(spec.dataset());
    if (data.mix() != null) {
      mix = data.mixBatches(hp.microBatchSize(), hp.seed(), pad, seqLen);
    } else {
      batches = data.trainBatches(hp.microBatchSize(), hp.seed(), pad, seqLen);
    }
    validation = data.validationBatches(hp.microBatchSize(), pad, seqLen);
    if (data.mix() != null) {
      Map<String, List<Batch>> bySource = new LinkedHashMap<>();
      for (String name : data.mix().names()) {
        List<Sequence> rows = data.validationGroups().get(name);
        if (rows != null && !rows.isEmpty()) {
          bySource.put(name, BatchIterator.sequential(rows, hp.microBatchSize(), pad, seqLen));
        }
      }
      validationBySource = bySource;
    }
    // pure bf16: the model updates each layer inside its backward pass, the optimiser holds the
    // moments only (the spec has refused clipping, accumulation and adapters)
    optimizer =
        student.model().updatesInBackward()
            ? AdamW.inBackward(
                OptimizerConfig.from(hp), student.model().parameterShapes(), device, manager)
            : new AdamW(OptimizerConfig.from(hp), student.model().parameters(), manager);
    if (resume.isPresent()) {
      Checkpoint c = resume.get();
      try (NDManager tmp = manager.newSubManager();
          SafetensorsFile f = SafetensorsFile.open(c.dir().resolve(OPTIMIZER_FILE))) {
        Map<String, NDArray> state = new HashMap<>();
        for (String name : f.names()) {
          state.put(name, f.read(name, tmp));
        }
        optimizer.importState(state, c.state().step());
      }
      if (mix != null) {
        if (c.state().mix() == null) {
          throw new IllegalArgumentException(
              "checkpoint " + c.dir().getFileName() + " holds no dataset mix position");
        }
        mix.restore(c.state().mix());
      } else {
        batches.restore(new LoaderState(c.state().epoch(), (int) c.state().position()));
      }
      step = c.state().step();
      tokensSeen = c.state().tokensSeen();
      lastMetrics = new LinkedHashMap<>(c.state().metrics());
      lastCheckpoint = c;
      ctx.listener()
          .onEvent("resumed", "resumed from " + c.dir().getFileName() + " at step " + step);
    } else {
      ctx.listener()
          .onEvent(
              "started",
              String.format(
                  "%s: student %,d parameters%s%s; %d training and %d validation sequences",
                  spec.type().json(),
                  student.model().config().parameterCount(),
                  hp.lora() == null
                      ? ""
                      : String.format(
                          " (LoRA rank %d: %,d trainable)",
                          hp.lora().rank(),
                          Gemma2Lora.parameterCount(student.model().config(), hp.lora())),
                  teacher != null
                      ? String.format(", teacher %,d", teacher.model().config().parameterCount())
                      : cache == null
                          ? ""
                          : String.format(
                              ", teacher cache %s (%,d positions, top_k %d, %,d bytes)",
                              spec.teacherLogits(),
                              cache.manifest().positions(),
                              cache.key().topK(),
                              cache.manifest().bytes()),
                  data.train().size(),
                  data.validation().size()));
    }
    ctx.listener()
        .onEvent(
            "precision",
            "precision "
                + precision.json()
                + (hp.precision() == null ? " (the default on " + device + ")" : "")
                + Optional.ofNullable(Devices.tf32(device, precision, System.getenv()))
                    .map(t -> "; " + t)
                    .orElse("")
                + (teacher == null
                    ? ""
                    : String.format(
                        "; teacher weights %,d bytes in memory", teacher.model().parameterBytes()))
                + (hp.lora() == null
                    ? ""
                    : String.format(
                        "; frozen student base %,d bytes in memory",
                        student.model().parameterBytes()))
                + (student.model().usesNativeKernels()
                    ? "; fused native CPU kernels (" + NativeKernels.SWITCH + ")"
                    : ""));
    if (data.trainStats().truncated() > 0) {
      ctx.listener()
          .onEvent(
              "warning",
              data.trainStats().truncated()
                  + " training examples were truncated to max_seq_len "
                  + spec.dataset().maxSeqLen());
    }
  }

  /** The loop. Returns when max_steps is reached or the stop signal fires (after a checkpoint). */
  public RunResult train() {
    int accumulation = hp.accumulationSteps();
    while (step < hp.maxSteps()) {
      Optional<StopSignal.Reason> stop = ctx.stop().check();
      if (stop.isPresent()) {
        Checkpoint c = saveCheckpoint();
        ctx.listener()
            .onEvent(
                stop.get().eventType(),
                "stopped at step " + step + " after checkpoint " + c.dir().getFileName());
        return RunResult.trained(RunResult.Outcome.of(stop.get()), step, c, lastMetrics);
      }
      long t0 = System.nanoTime();
      Batch[] micro = new Batch[accumulation];
      long normaliser = 0;
      long inputTokens = 0;
      int[][] rows = new int[accumulation][];
      for (int i = 0; i < accumulation; i++) {
        BatchIterator.Indexed next = mix != null ? mix.nextIndexed() : batches.nextIndexed();
        micro[i] = next.batch();
        rows[i] = next.rows();
        normaliser += micro[i].lossTokens();
        inputTokens += micro[i].realTokens();
      }
      double total = 0;
      double kd = 0;
      double ce = 0;
      AdamW.StepReport report;
      if (hp.lora() != null && hp.lora().dropout() > 0) {
        // LoRA dropout draws from the engine's generator: seeded per step, a resume draws the same
        Engine.getInstance().setRandomSeed((int) (hp.seed() * 1_000_003L + step));
      }
      boolean inBackward = optimizer.updatesInBackward();
      try (NDManager stepManager = manager.newSubManager();
          GradientCollector collector = Engine.getInstance().newGradientCollector()) {
        if (inBackward) {
          optimizer.beginInBackward();
        }
        for (int i = 0; i < accumulation; i++) {
          Batch b = micro[i];
          BatchTensors x = BatchTensors.of(b, stepManager); // (B, T) each
          NDArray teacherHidden = null;
          if (teacher != null) {
            try (NoGrad ignored = NoGrad.enter()) {
              teacherHidden = teacher.model().hidden(x.ids(), x.attentionMask()); // (B, T, D_t)
            }
          }
          training(true); // LoRA dropout on for the student's forward only
          NDArray studentHidden = student.model().hidden(x.ids(), x.attentionMask()); // (B, T, D_s)
          training(false);
          KdLoss.Hidden hidden =
              cache != null
                  // the stored teacher entries of these rows: no teacher forward, no teacher
                  ? KdLoss.Hidden.cached(student.model(), studentHidden, cache.targets(rows[i]))
                  : new KdLoss.Hidden(
                      student.model(),
                      studentHidden,
                      teacher == null ? null : teacher.model(),
                      teacherHidden);
          LossParts parts = loss.backward(collector, hidden, x.labels(), x.lossMask(), normaliser);
          if (inBackward) {
            finishBackwardUpdating(parts.total().getFloat()); // pure bf16: updates each layer
          } else {
            // checkpointed layers: recompute, back-propagate
            student.model().finishBackward(optimizer::updateInBackward);
          }
          total += parts.total().getFloat();
          kd += parts.kd().getFloat();
          ce += parts.ce().getFloat();
        }
        report = inBackward ? optimizer.finishInBackward() : optimizer.clipAndStep();
      }
      step++;
      tokensSeen += normaliser;
      double seconds = (System.nanoTime() - t0) / 1e9;
      StepMetrics m =
          new StepMetrics(
              step,
              hp.maxSteps(),
              total,
              teacher == null && cache == null ? Double.NaN : kd,
              ce,
              report.learningRate(),
              report.gradNorm(),
              inputTokens / seconds,
              seconds,
              mixMetrics());
      lastMetrics = new LinkedHashMap<>(m.asMap());
      ctx.listener().onStep(m);
      if (hp.evalEvery() > 0 && step % hp.evalEvery() == 0 && step < hp.maxSteps()) {
        evaluate();
      }
      if (step % hp.checkpointEvery() == 0 && step < hp.maxSteps()) {
        ctx.listener().onCheckpoint(saveCheckpoint(), false);
      }
    }
    evaluate();
    if (lastCheckpoint == null || lastCheckpoint.step() != step) {
      saveCheckpoint();
    }
    ctx.listener().onCheckpoint(lastCheckpoint, true);
    ctx.listener()
        .onEvent("finished", "trained " + step + " steps, " + tokensSeen + " response tokens");
    return RunResult.trained(RunResult.Outcome.COMPLETED, step, lastCheckpoint, lastMetrics);
  }

  /**
   * Pure bf16: the rest of the backward pass, which updates each layer as soon as its gradients
   * exist (last layer first). A loss that is not finite stops the step before anything moves, as
   * the other precisions stop at {@link AdamW#clipAndStep}. A gradient that is not finite stops it
   * half-way: the layers above it are already updated in memory, so the student is marked {@link
   * #halfUpdated} (no checkpoint is written from it) and the job fails saying so.
   *
   * @param loss the micro-batch's loss, read before the backward pass goes into the layers
   * @throws IllegalStateException the job's failure, with what was updated and how to go on
   */
  private void finishBackwardUpdating(float loss) {
    if (!Float.isFinite(loss)) {
      student.model().abandonBackward();
      throw new IllegalStateException(
          "loss is " + loss + " at step " + (step + 1) + " (precision bf16); no update was made");
    }
    try {
      student.model().finishBackward(optimizer::updateInBackward);
    } catch (NonFiniteGradientException e) {
      String failure = halfUpdatedFailure(e);
      if (e.groupsUpdated() > 0) {
        halfUpdated = failure;
      }
      throw new IllegalStateException(failure, e);
    }
  }

  /** What a user is told when pure bf16's update in backward meets a non-finite gradient. */
  private String halfUpdatedFailure(NonFiniteGradientException e) {
    int layers = student.model().config().numHiddenLayers();
    int layer = Gemma2WeightNames.layerOf(e.weights().get(0));
    String group =
        layer >= 0
            ? "layer " + layer + " (model.layers." + layer + ".*)"
            : String.join(" and ", e.weights());
    StringBuilder m =
        new StringBuilder()
            .append("step ")
            .append(step + 1)
            .append(" (precision bf16, AdamW inside the backward pass): the gradient of ")
            .append(group)
            .append(" is ")
            .append(e.norm())
            .append("; ");
    if (e.groupsUpdated() == 0) {
      return m.append("no weight was updated (no update was made)").toString();
    }
    // groups go last layer first, then the embedding and final norm
    int lowest = layers - e.groupsUpdated();
    m.append(
            lowest == layers - 1
                ? "layer " + lowest + " was"
                : "layers " + lowest + " to " + (layers - 1) + " were")
        .append(
            " already updated in memory by this step, so the model in memory is half-updated and"
                + " is not saved: no checkpoint holds it. ");
    if (lastCheckpoint == null) {
      return m.append(
              "No checkpoint was written before this step: the job has to start over (lower"
                  + " learning_rate, or use precision bf16-mixed, which checks the whole gradient"
                  + " before it changes any weight)")
          .toString();
    }
    Path dir = lastCheckpoint.dir().toAbsolutePath();
    return m.append("The newest checkpoint on disk, ")
        .append(dir)
        .append(" (step ")
        .append(lastCheckpoint.step())
        .append("), holds the model as it was before. Running this spec again on the same output")
        .append(" directory (distill train --out) resumes from it, but meets the same batch again;")
        .append(
            " to change learning_rate or precision (bf16-mixed checks the whole gradient before")
        .append(" it changes any weight), start a new job whose student is that directory (file:")
        .append(dir)
        .append(
            "; for a service job a copy of it outside the artifact store), whose optimizer state")
        .append(" starts afresh")
        .toString();
  }

  /** Turns the student's LoRA dropout on or off (nothing without adapters). */
  private void training(boolean on) {
    if (student.model().adapters() != null) {
      student.model().adapters().training(on);
    }
  }

  /** The student being trained (for tests that look at its weights). */
  Gemma2Model studentModel() {
    return student.model();
  }

  /**
   * Validation loss (and KL to the teacher) on the validation split; reported through the listener.
   */
  private void evaluate() {
    if (validation.isEmpty()) {
      return;
    }
    Map<String, Double> scores =
        Evaluator.losses(
            student.model(),
            teacher == null ? null : teacher.model(),
            validation,
            manager,
            loss.config().chunkSize(),
            loss.sharedVocab());
    Map<String, Double> named = new LinkedHashMap<>();
    named.put("val_loss", scores.get(Evaluator.CE));
    named.put("val_ppl", Math.exp(scores.get(Evaluator.CE)));
    if (scores.containsKey(Evaluator.KL)) {
      named.put("val_kl", scores.get(Evaluator.KL));
    }
    // a mix: the loss on each source's own held-out share, val_loss_<name>
    for (var source : validationBySource.entrySet()) {
      named.put(
          "val_loss_" + source.getKey(),
          Evaluator.losses(
                  student.model(),
                  null,
                  source.getValue(),
                  manager,
                  loss.config().chunkSize(),
                  null)
              .get(Evaluator.CE));
    }
    lastMetrics.putAll(named);
    ctx.listener().onEval(step, named);
  }

  /** For a dataset mix, {@code tokens_<source>}: loss tokens of each source so far; else empty. */
  private Map<String, Double> mixMetrics() {
    if (mix == null) {
      return Map.of();
    }
    Map<String, Double> out = new LinkedHashMap<>();
    long[] tokens = mix.tokensPerSource();
    for (int s = 0; s < tokens.length; s++) {
      out.put("tokens_" + data.mix().names().get(s), (double) tokens[s]);
    }
    return out;
  }

  /**
   * Writes {@code step-NNNNNN/}: the model, its tokenizer, the optimiser state and the trainer
   * state.
   */
  public Checkpoint saveCheckpoint() {
    if (halfUpdated != null) {
      throw new IllegalStateException(
          "no checkpoint is written from a half-updated model (" + halfUpdated + ")");
    }
    LoaderState pos = mix != null ? new LoaderState(0, 0) : batches.state();
    TrainerState state =
        new TrainerState(
            TrainerState.FORMAT_VERSION,
            step,
            pos.epoch(),
            pos.index(),
            hp.seed(),
            tokensSeen,
            specHash,
            finite(lastMetrics),
            mix != null ? mix.state() : null);
    lastCheckpoint =
        checkpoints.save(
            state,
            dir -> {
              Models.save(student, dir, template);
              SafetensorsWriter.write(
                  dir.resolve(OPTIMIZER_FILE),
                  optimizer.exportState(),
                  SafetensorsDtype.F32,
                  Map.of("step", Long.toString(optimizer.step())));
            });
    return lastCheckpoint;
  }

  private static Map<String, Double> finite(Map<String, Double> m) {
    Map<String, Double> out = new LinkedHashMap<>();
    m.forEach(
        (k, v) -> {
          if (v != null && Double.isFinite(v)) {
            out.put(k, v);
          }
        });
    return out;
  }

  /** The directory of the newest checkpoint (the output after {@link #train}). */
  public Path outputDir() {
    return lastCheckpoint == null ? null : lastCheckpoint.dir();
  }

  /** The teacher_pass job's cache handed to this run, opened and verified shard by shard. */
  private TeacherCache openCache() {
    String id = spec.teacherLogits().substring(dev.distill.spec.ModelRef.JOB.length());
    java.nio.file.Path dir = ctx.artifacts().get(id);
    if (dir == null) {
      throw new IllegalArgumentException(
          "teacher_logits "
              + spec.teacherLogits()
              + ": no output of that job was handed to this run");
    }
    TeacherCache c = TeacherCache.open(dir);
    ctx.listener()
        .onEvent(
            "cache_opened",
            String.format(
                "teacher cache %s: %,d positions in %d shards, %,d bytes (%.1f per position)",
                dir,
                c.manifest().positions(),
                c.manifest().shards().size(),
                c.manifest().bytes(),
                c.manifest().bytesPerPosition()));
    return c;
  }

  /**
   * The student's tokenizer and this job's data are the ones the cache was written with.
   *
   * @throws IllegalArgumentException naming both sides of the first difference
   */
  private void checkAgainstCache(dev.distill.spec.DatasetSpec dataset) {
    CacheKey key = cache.key();
    String studentTokenizer = CacheKeys.tokenizerId(student);
    int studentVocab = student.tokenizer().vocabSize();
    if (!studentTokenizer.equals(key.tokenizer()) || studentVocab != key.vocab()) {
      throw new IllegalArgumentException(
          "the student's tokenizer ("
              + studentTokenizer
              + ", "
              + studentVocab
              + " tokens) differs from the teacher cache's ("
              + key.tokenizer()
              + ", "
              + key.vocab()
              + " tokens) of "
              + spec.teacherLogits()
              + "; distillation compares distributions over one vocabulary");
    }
    if (student.model().vocabSize() < key.vocab()) {
      throw new IllegalArgumentException(
          "the student's output ("
              + student.model().vocabSize()
              + ") is smaller than the teacher cache's vocabulary ("
              + key.vocab()
              + ")");
    }
    Map<String, Object> split = new java.util.TreeMap<>(CacheKeys.split(dataset));
    String content = CacheKeys.datasetHash(dataset);
    if (!content.equals(key.dataset())
        || !split.toString().equals(new java.util.TreeMap<>(key.split()).toString())
        || !dataset.template().equals(key.template())) {
      throw new IllegalArgumentException(
          "this job's dataset (content "
              + content.substring(0, 12)
              + ", template "
              + dataset.template()
              + ", split "
              + split
              + ") is not the one the teacher cache "
              + spec.teacherLogits()
              + " was written for (content "
              + key.dataset().substring(0, Math.min(12, key.dataset().length()))
              + ", template "
              + key.template()
              + ", split "
              + new java.util.TreeMap<>(key.split())
              + ")");
    }
  }

  @Override
  public void close() {
    if (cache != null) {
      cache.close();
    }
    if (optimizer != null) {
      optimizer.close();
    }
    if (teacher != null) {
      teacher.close();
    }
    if (student != null) {
      student.close();
    }
    if (manager != null) {
      manager.close();
    }
  }

  /**
   * The length batches are padded to: packed rows are all about {@code max_seq_len} long, so they
   * keep it; unpacked rows are padded only to the longest row of their batch (no compute is spent
   * on padding beyond it; the loss and gradients do not depend on it).
   *
   * @return a fixed length, or 0 for the longest row of each batch
   */
  static int batchLength(dev.distill.spec.DatasetSpec dataset) {
    return dataset.packing() ? dataset.maxSeqLen() : 0;
  }
}
