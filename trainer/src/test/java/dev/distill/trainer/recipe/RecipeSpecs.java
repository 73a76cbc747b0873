package dev.distill.trainer.recipe;

import dev.distill.spec.DatasetSpec;
import dev.distill.spec.Hyperparameters;
import dev.distill.spec.JobSpec;
import dev.distill.spec.JobType;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.checkpoint.Checkpoint;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Small job specs and a recording listener for the recipe tests. */
final class RecipeSpecs {

  private RecipeSpecs() {}

  /** The procedural dataset, small and short. */
  static DatasetSpec procedural(int numExamples) {
    return new DatasetSpec("builtin:procedural", null, null, 48, 0.1, null, null, numExamples, 7L);
  }

  static Hyperparameters hp(
      int maxSteps,
      int batch,
      int micro,
      double lr,
      int checkpointEvery,
      int keepCheckpoints,
      int evalEvery) {
    return new Hyperparameters(
        maxSteps,
        batch,
        micro,
        lr,
        null,
        0,
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        42L,
        checkpointEvery,
        keepCheckpoints,
        evalEvery,
        16);
  }

  static JobSpec finetune(ModelRef student, DatasetSpec data, Hyperparameters hp) {
    return new JobSpec(JobType.FINETUNE, null, student, data, hp, null, null, null, null, null);
  }

  static JobSpec distill(ModelRef teacher, ModelRef student, DatasetSpec data, Hyperparameters hp) {
    return new JobSpec(JobType.DISTILL, teacher, student, data, hp, null, null, null, null, null);
  }

  /** Records everything the recipe reports. */
  static final class Recorder implements TrainingListener {
    final List<StepMetrics> steps = new ArrayList<>();
    final Map<Long, Map<String, Double>> evals = new TreeMap<>();
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
