package dev.distill.trainer.recipe;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import dev.distill.spec.DatasetSpec;
import dev.distill.spec.JobSpec;
import dev.distill.spec.plan.Precision;
import dev.distill.trainer.checkpoint.Checkpoint;
import dev.distill.trainer.data.Batch;
import dev.distill.trainer.data.BatchIterator;
import dev.distill.trainer.data.DatasetSplits;
import dev.distill.trainer.data.Datasets;
import dev.distill.trainer.model.Devices;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The recipe of {@code evaluate} jobs: validation cross-entropy and perplexity of the student,
 * KL(teacher || student) and top-1 agreement when a teacher is given, and exact match of greedy
 * generations on held-out prompts with a unique answer; per example ({@link ExampleResults}) the
 * response, the loss and, with a {@code judge}, the judge's score. Reports the scores once (step 0)
 * and writes them with the per-example results into its output ({@link EvaluationOutput}).
 */
public final class EvaluationRecipe {

  private EvaluationRecipe() {}

  public static RunResult run(JobSpec spec, RunContext ctx) {
    if (spec.checkpoints() != null && spec.checkpoints().all()) {
      return BestCheckpoint.run(spec, ctx);
    }
    Scored s = score(spec, ctx);
    if (s.stopped() != null) {
      return new RunResult(RunResult.Outcome.of(s.stopped()), 0, 0, null, s.metrics());
    }
    Map<String, Double> metrics = s.metrics();
    ctx.listener().onEval(0, metrics);
    Checkpoint out = EvaluationOutput.save(spec, ctx, metrics, s.perExample());
    ctx.listener().onCheckpoint(out, true);
    ctx.listener().onEvent("finished", "scores: " + metrics + "; results in " + out.dir());
    return new RunResult(RunResult.Outcome.COMPLETED, 0, 0, out, metrics);
  }

  /**
   * What one model scored.
   *
   * @param metrics the scores
   * @param perExample the per-example results, or null (text data)
   * @param stopped why the per-example pass stopped early, or null when it finished
   */
  record Scored(
      Map<String, Double> metrics, ExampleResults.Outcome perExample, StopSignal.Reason stopped) {}

  /** Scores the student of {@code spec} as {@code ctx} resolves it; writes nothing but progress. */
  static Scored score(JobSpec spec, RunContext ctx) {
    Device device = Models.device(ctx);
    Precision precision =
        Precision.resolve(spec.hyperparameters().precision(), Devices.kind(device));
    long seed = spec.hyperparameters().seed();
    // nothing trains here: both models are frozen (a bf16/fp16 checkpoint stays in its dtype)
    try (NDManager manager = NDManager.newBaseManager(device);
        Models.Loaded student =
            Models.resolve(
                spec.student(), ctx, manager, seed, null, precision, Models.Weights.FROZEN);
        Models.Loaded teacher =
            spec.teacher() == null
                ? null
                : Models.resolve(
                    spec.teacher(),
                    ctx,
                    manager,
                    seed + 1,
                    null,
                    precision,
                    Models.Weights.FROZEN)) {
      student.model().requireGradients(false);
      Integer shared = null;
      if (teacher != null) {
        teacher.model().requireGradients(false);
        shared = Models.sharedVocab(teacher, student);
      }
      DatasetSpec dataset = DatasetRefs.resolve(spec.dataset(), ctx);
      DatasetSplits data = Datasets.open(dataset, student.tokenizer());
      if (data.validation().isEmpty()) {
        throw new IllegalArgumentException(
            "dataset.validation_fraction "
                + spec.dataset().validationFraction()
                + " of "
                + spec.dataset().uri()
                + " held out no example: evaluate scores the held-out share");
      }
      List<Batch> batches =
          data.validationBatches(
              spec.hyperparameters().microBatchSize(),
              student.tokenizer().padId(),
              TrainingRecipe.batchLength(spec.dataset()));
      ctx.listener()
          .onEvent(
              "started",
              "evaluating on "
                  + data.validation().size()
                  + " validation sequences and up to "
                  + spec.generation().numSamples()
                  + " held-out prompts");
      int chunk = Models.lossChunk(spec.hyperparameters().lossChunkSize(), student, teacher);
      Map<String, Double> scores =
          Evaluator.losses(
              student.model(),
              teacher == null ? null : teacher.model(),
              batches,
              manager,
              chunk,
              shared);
      Map<String, Double> metrics = new LinkedHashMap<>();
      metrics.put("val_loss", scores.get(Evaluator.CE));
      metrics.put("val_ppl", Math.exp(scores.get(Evaluator.CE)));
      // per kind of example (procedural data): val_loss_unique, val_loss_several
      for (var group : data.validationGroups().entrySet()) {
        List<Batch> groupBatches =
            BatchIterator.sequential(
                group.getValue(),
                spec.hyperparameters().microBatchSize(),
                student.tokenizer().padId(),
                0);
        metrics.put(
            "val_loss_" + group.getKey(),
            Evaluator.losses(student.model(), null, groupBatches, manager, chunk, null)
                .get(Evaluator.CE));
      }
      if (teacher != null) {
        metrics.put("kl_to_teacher", scores.get(Evaluator.KL));
        metrics.put("top1_agreement", scores.get(Evaluator.AGREEMENT));
      }
      metrics.put(
          "exact_match",
          Evaluator.exactMatch(
              student.model(),
              student.tokenizer(),
              data.template(),
              data.heldOut(),
              spec.generation().numSamples(),
              spec.generation().maxNewTokens(),
              manager));
      metrics.put("parameters", (double) student.model().config().parameterCount());
      ExampleResults.Outcome perExample = null;
      if (!"text".equals(dataset.format()) && !"augmented".equals(dataset.format())) {
        perExample =
            ExampleResults.run(spec, ctx, dataset, student, data.template(), manager, chunk);
        if (perExample.stopped().isPresent()) {
          StopSignal.Reason why = perExample.stopped().get();
          ctx.listener()
              .onEvent(
                  why.eventType(),
                  "stopped after "
                      + perExample.rows().size()
                      + " examples; the next attempt goes on from there");
          return new Scored(metrics, perExample, why);
        }
        if (perExample.judge() != null) {
          metrics.putAll(perExample.judge().metrics());
        }
      }
      return new Scored(metrics, perExample, null);
    }
  }
}
