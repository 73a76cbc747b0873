package dev.distill.app.demo;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The demo's experiment, written down in one place: sizes, data and settings. They sit where
 * distillation is known to help (see the experiment): a student of about 40% of the
 * teacher's parameters, tasks whose answers are not unique mixed with exact ones, temperature 1 and
 * kd_ratio 1, equal steps and data for the distilled student and the baseline.
 *
 * @param teacherPreset builtin preset of the teacher
 * @param studentPreset builtin preset of both students
 * @param examples procedural examples generated (train and validation together)
 * @param teacherSteps optimiser steps of the teacher
 * @param studentSteps optimiser steps of each student
 * @param batchSize sequences per step
 * @param maxSeqLen tokens per sequence
 * @param learningRate peak learning rate
 * @param temperature distillation temperature
 * @param kdRatio share of the KD term in the student's loss
 * @param evalSamples held-out prompts scored by exact match
 * @param seed data and initialisation seed
 */
public record DemoPlan(
    String teacherPreset,
    String studentPreset,
    int examples,
    int teacherSteps,
    int studentSteps,
    int batchSize,
    int maxSeqLen,
    double learningRate,
    double temperature,
    double kdRatio,
    int evalSamples,
    long seed) {

  public static DemoPlan standard() {
    return new DemoPlan(
        "gemma2-demo-teacher",
        "gemma2-demo-student",
        20000,
        1200,
        600,
        16,
        64,
        3e-3,
        1.0,
        1.0,
        100,
        1234);
  }

  /** The same plan with another seed. */
  public DemoPlan withSeed(long newSeed) {
    return new DemoPlan(
        teacherPreset,
        studentPreset,
        examples,
        teacherSteps,
        studentSteps,
        batchSize,
        maxSeqLen,
        learningRate,
        temperature,
        kdRatio,
        evalSamples,
        newSeed);
  }

  /** A much smaller run for tests of the plumbing (not of the result). */
  public static DemoPlan quick() {
    return new DemoPlan(
        "gemma2-demo-teacher", "gemma2-demo-student", 400, 12, 12, 8, 64, 3e-3, 1.0, 1.0, 20, 1234);
  }

  Map<String, Object> dataset() {
    Map<String, Object> d = new LinkedHashMap<>();
    d.put("uri", "builtin:procedural");
    d.put("format", "alpaca");
    d.put("template", "gemma");
    d.put("max_seq_len", maxSeqLen);
    d.put("num_examples", examples);
    d.put("validation_fraction", 0.05);
    d.put("seed", seed);
    return d;
  }

  Map<String, Object> hyperparameters(int steps, boolean distill) {
    Map<String, Object> h = new LinkedHashMap<>();
    h.put("max_steps", steps);
    h.put("batch_size", batchSize);
    h.put("learning_rate", learningRate);
    h.put("warmup_steps", Math.max(1, steps / 20));
    h.put("checkpoint_every", Math.max(1, steps / 4));
    h.put("keep_checkpoints", 2);
    h.put("eval_every", Math.max(1, steps / 10));
    h.put("seed", seed);
    if (distill) {
      h.put("temperature", temperature);
      h.put("kd_ratio", kdRatio);
      h.put("kd_loss", "forward_kl");
    }
    return h;
  }

  /** Spec of the teacher: finetuned from scratch. */
  Map<String, Object> teacherSpec() {
    return spec(
        "finetune",
        null,
        "builtin:" + teacherPreset,
        hyperparameters(teacherSteps, false),
        "teacher");
  }

  /** Spec of the distilled student. */
  Map<String, Object> distilledSpec(String teacherJob) {
    return spec(
        "distill",
        "job:" + teacherJob,
        "builtin:" + studentPreset,
        hyperparameters(studentSteps, true),
        "distilled");
  }

  /** Spec of the baseline: the same student trained from scratch with the same data and steps. */
  Map<String, Object> baselineSpec() {
    return spec(
        "finetune",
        null,
        "builtin:" + studentPreset,
        hyperparameters(studentSteps, false),
        "baseline");
  }

  /** Spec of an evaluation of a trained model against the teacher. */
  Map<String, Object> evaluateSpec(String modelJob, String teacherJob, String role) {
    Map<String, Object> s =
        spec("evaluate", "job:" + teacherJob, "job:" + modelJob, null, "eval-" + role);
    s.put(
        "generation", Map.of("num_samples", evalSamples, "max_new_tokens", 16, "temperature", 0.0));
    return s;
  }

  private Map<String, Object> spec(
      String type, String teacher, String student, Map<String, Object> hp, String role) {
    Map<String, Object> s = new LinkedHashMap<>();
    s.put("type", type);
    if (teacher != null) {
      s.put("teacher", teacher);
    }
    s.put("student", student);
    s.put("dataset", dataset());
    if (hp != null) {
      s.put("hyperparameters", hp);
    }
    s.put("metadata", Map.of("demo", "true", "role", role));
    return s;
  }

  /** Lines for the report: under which regime the comparison was made. */
  List<String> regime(long teacherParams, long studentParams) {
    return List.of(
        String.format(
            "teacher %s (%,d parameters), students %s (%,d parameters, %.0f%% of the teacher)",
            teacherPreset,
            teacherParams,
            studentPreset,
            studentParams,
            teacherParams == 0 ? 0.0 : 100.0 * studentParams / teacherParams),
        "data: "
            + examples
            + " procedural instruction examples (exact-answer tasks and tasks with several"
            + " valid answers), gemma template, loss on responses only, 5% held out (a prompt with"
            + " a unique answer is never seen in training; examples with several answers are held"
            + " out by position, fresh draws of the same distribution)",
        "teacher "
            + teacherSteps
            + " steps (trained longer, as a real teacher is); each student "
            + studentSteps
            + " steps; batches of "
            + batchSize
            + " sequences of at most "
            + maxSeqLen
            + " tokens, peak learning rate "
            + learningRate
            + "; seed "
            + seed
            + " for data, split, initialisation and data order, the same for both students",
        "distillation: forward KL, temperature "
            + temperature
            + ", kd_ratio "
            + kdRatio
            + " (the baseline uses cross-entropy only)",
        "exact match is scored on held-out prompts whose answer is unique, greedy decoding");
  }
}
