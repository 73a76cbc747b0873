package dev.distill.trainer.recipe;

import dev.distill.spec.DatasetSpec;
import dev.distill.spec.GenerationSpec;
import dev.distill.spec.Hyperparameters;
import dev.distill.spec.JobSpec;
import dev.distill.spec.JobType;
import dev.distill.spec.LoraSpec;
import dev.distill.spec.ModelRef;
import dev.distill.spec.TeacherPassSettings;
import dev.distill.trainer.checkpoint.Checkpoint;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Job specs for the recipe tests, built by name ({@code aFinetune().student(TINY).steps(5)
 * .build()}), and a recording listener.
 */
final class RecipeSpecs {

  private RecipeSpecs() {}

  /** A finetune spec on {@link #procedural} data with the small-run settings of {@link Job}. */
  static Job aFinetune() {
    return new Job(JobType.FINETUNE, smallRun());
  }

  /** A distill spec on {@link #procedural} data with the small-run settings of {@link Job}. */
  static Job aDistill() {
    return new Job(JobType.DISTILL, smallRun());
  }

  /** An evaluate spec on {@link #procedural} data with the small-run settings of {@link Job}. */
  static Job anEvaluation() {
    return new Job(JobType.EVALUATE, smallRun());
  }

  /** A synthesize spec: no dataset, every hyperparameter at its default. */
  static Job aSynthesis() {
    return new Job(JobType.SYNTHESIZE, Hyperparameters.builder()).dataset(null);
  }

  /** A teacher_pass spec on {@link #procedural} data with the small-run settings of {@link Job}. */
  static Job aTeacherPass() {
    return new Job(JobType.TEACHER_PASS, smallRun());
  }

  /** Settings for runs of a few steps: no warm-up, seed 42, loss chunks of 16 tokens. */
  private static Hyperparameters.Builder smallRun() {
    return Hyperparameters.builder().warmupSteps(0).seed(42L).lossChunkSize(16);
  }

  /** The procedural dataset, small and short. */
  static DatasetSpec procedural(int numExamples) {
    return new DatasetSpec("builtin:procedural", null, null, 48, 0.1, null, null, numExamples, 7L);
  }

  /**
   * A dataset of Alpaca examples in the Gemma template, 64 tokens at most, nothing held out.
   *
   * @param uri {@code file:} or {@code job:}
   * @param maskPrompt whether the loss is on the responses only
   * @param seed the split seed
   */
  static DatasetSpec alpaca(String uri, boolean maskPrompt, long seed) {
    return new DatasetSpec(uri, "alpaca", "gemma", 64, 0.0, maskPrompt, null, null, seed);
  }

  /** A job spec under construction; unset fields take the spec's defaults. */
  static final class Job {
    private final JobType type;
    private final Hyperparameters.Builder hp;
    private ModelRef teacher;
    private ModelRef student;
    private DatasetSpec dataset = procedural(300);
    private GenerationSpec generation;
    private dev.distill.spec.JudgeSpec judge;
    private String teacherLogits;
    private TeacherPassSettings teacherPass;
    private dev.distill.spec.CheckpointSelection checkpoints;

    private Job(JobType type, Hyperparameters.Builder hp) {
      this.type = type;
      this.hp = hp;
    }

    Job teacher(ModelRef ref) {
      teacher = ref;
      return this;
    }

    Job student(ModelRef ref) {
      student = ref;
      return this;
    }

    Job dataset(DatasetSpec data) {
      dataset = data;
      return this;
    }

    /** Train from the cache of a teacher_pass job ({@code job:<id>}) instead of a teacher. */
    Job teacherLogits(String ref) {
      teacherLogits = ref;
      return this;
    }

    Job teacherPass(TeacherPassSettings settings) {
      teacherPass = settings;
      return this;
    }

    Job generation(GenerationSpec settings) {
      generation = settings;
      return this;
    }

    /** Which checkpoints of a {@code job:<id>} student an evaluation scores. */
    Job checkpoints(dev.distill.spec.CheckpointSelection selection) {
      checkpoints = selection;
      return this;
    }

    Job judge(dev.distill.spec.JudgeSpec settings) {
      judge = settings;
      return this;
    }

    Job steps(int maxSteps) {
      hp.maxSteps(maxSteps);
      return this;
    }

    /** Sequences per step, in one micro-batch. */
    Job batch(int batchSize) {
      hp.batchSize(batchSize);
      return this;
    }

    /** Sequences per step, accumulated over micro-batches of {@code microBatchSize}. */
    Job batch(int batchSize, int microBatchSize) {
      hp.batchSize(batchSize).microBatchSize(microBatchSize);
      return this;
    }

    Job learningRate(double lr) {
      hp.learningRate(lr);
      return this;
    }

    Job checkpointEvery(int steps) {
      hp.checkpointEvery(steps);
      return this;
    }

    Job keepCheckpoints(int count) {
      hp.keepCheckpoints(count);
      return this;
    }

    Job evalEvery(int steps) {
      hp.evalEvery(steps);
      return this;
    }

    Job seed(long seed) {
      hp.seed(seed);
      return this;
    }

    /** {@code hyperparameters.grad_clip}; 0 turns clipping off. */
    Job gradClip(double value) {
      hp.gradClip(value);
      return this;
    }

    /** {@code hyperparameters.precision}; unset, the device decides. */
    Job precision(String precision) {
      hp.precision(precision);
      return this;
    }

    /** Trains LoRA adapters of the student instead of its weights. */
    Job activationCheckpointing(boolean on) {
      hp.activationCheckpointing(on);
      return this;
    }

    Job lora(LoraSpec settings) {
      hp.lora(settings);
      return this;
    }

    JobSpec build() {
      return new JobSpec(
          type,
          teacher,
          student,
          dataset,
          hp.build(),
          generation,
          null,
          null,
          null,
          null,
          judge,
          teacherLogits,
          teacherPass,
          checkpoints);
    }
  }

  /** Records everything the recipe reports. */
  static final class Recorder implements TrainingListener {
    final List<StepMetrics> steps = new ArrayList<>();
    final Map<Long, Map<String, Double>> evals = new TreeMap<>();
    final Map<Long, Map<String, Double>> progress = new TreeMap<>();
    final List<Checkpoint> checkpoints = new ArrayList<>();
    final List<String> events = new ArrayList<>();

    @Override
    public void onEvent(String type, String message) {
      events.add(type + ": " + message);
    }

    @Override
    public void onStep(StepMetrics metrics) {
      steps.add(metrics);
    }

    @Override
    public void onEval(long step, Map<String, Double> metrics) {
      evals.put(step, metrics);
    }

    @Override
    public void onProgress(long done, Map<String, Double> metrics) {
      progress.put(done, metrics);
    }

    @Override
    public void onCheckpoint(Checkpoint checkpoint, boolean isFinal) {
      checkpoints.add(checkpoint);
    }

    /** Loss of each step by step number. */
    Map<Long, Double> losses() {
      Map<Long, Double> m = new TreeMap<>();
      steps.forEach(s -> m.put(s.step(), s.loss()));
      return m;
    }
  }
}
