package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.checkpoint.CheckpointManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A run stopped half-way and resumed in the same directory continues exactly as the uninterrupted
 * run: model, optimiser moments, data position and learning-rate schedule all come back.
 */
class ResumeTest {

  private static final int STEPS = 6;

  @TempDir Path tmp;

  private static JobSpec spec(int batch, int micro, double lr) {
    return RecipeSpecs.aFinetune()
        .student(ModelRef.of("builtin:gemma2-tiny"))
        .steps(STEPS)
        .batch(batch, micro)
        .learningRate(lr)
        .checkpointEvery(100)
        .keepCheckpoints(2)
        .build();
  }

  /** Fires PREEMPTED once the recorder has seen {@code after} steps. */
  private static StopSignal after(RecipeSpecs.Recorder r, int after) {
    return () ->
        r.steps.size() >= after ? Optional.of(StopSignal.Reason.PREEMPTED) : Optional.empty();
  }

  @ParameterizedTest(name = "batch {0}, micro-batch {1}")
  @CsvSource({"4, 4", "4, 2"})
  void resumedRunRepeatsTheStraightRunsLosses(int batch, int micro) {
    JobSpec spec = spec(batch, micro, 3e-3);

    RecipeSpecs.Recorder straight = new RecipeSpecs.Recorder();
    RunResult full =
        Recipes.run(spec, new RunContext(tmp.resolve("straight"), Map.of(), straight, null));
    assertThat(full.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(straight.losses()).hasSize(STEPS);

    Path dir = tmp.resolve("interrupted");
    RecipeSpecs.Recorder first = new RecipeSpecs.Recorder();
    RunResult stopped =
        Recipes.run(spec, new RunContext(dir, Map.of(), first, after(first, STEPS / 2)));
    assertThat(stopped.outcome()).isEqualTo(RunResult.Outcome.PREEMPTED);
    assertThat(stopped.step()).isEqualTo(STEPS / 2);
    assertThat(stopped.lastCheckpoint().dir())
        .isEqualTo(dir.resolve("checkpoints").resolve(CheckpointManager.dirName(STEPS / 2)));
    assertThat(first.events).anyMatch(e -> e.startsWith("preempted"));

    RecipeSpecs.Recorder second = new RecipeSpecs.Recorder();
    RunResult resumed = Recipes.run(spec, new RunContext(dir, Map.of(), second, null));
    assertThat(resumed.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(resumed.step()).isEqualTo(STEPS);
    assertThat(second.events).anyMatch(e -> e.startsWith("resumed"));
    assertThat(second.losses().keySet()).containsExactly(4L, 5L, 6L);

    // the first half too is the same run; the losses must still change step to step
    for (long s = 1; s <= STEPS / 2; s++) {
      assertThat(first.losses().get(s)).isCloseTo(straight.losses().get(s), within(1e-6));
    }
    for (long s = STEPS / 2 + 1; s <= STEPS; s++) {
      assertThat(second.losses().get(s))
          .as("loss of step %d after resume", s)
          .isCloseTo(straight.losses().get(s), within(1e-6));
    }
    assertThat(straight.losses().get(6L)).isNotCloseTo(straight.losses().get(4L), within(1e-4));
    assertThat(second.steps.get(0).lr()).isEqualTo(straight.steps.get(STEPS / 2).lr());
  }

  /**
   * Pure bf16: the checkpoint holds the bf16 weights as their bits and the fp32 moments, so the
   * resumed run ends with the very bytes of the straight one.
   */
  @Test
  void pureBf16ResumesToTheSameBytes() throws Exception {
    JobSpec spec =
        RecipeSpecs.aFinetune()
            .student(ModelRef.of("builtin:gemma2-tiny"))
            .steps(STEPS)
            .batch(4)
            .learningRate(3e-3)
            .precision("bf16")
            .checkpointEvery(100)
            .build();
    RecipeSpecs.Recorder straight = new RecipeSpecs.Recorder();
    RunResult full =
        Recipes.run(spec, new RunContext(tmp.resolve("straight"), Map.of(), straight, null));
    Path dir = tmp.resolve("interrupted");
    RecipeSpecs.Recorder first = new RecipeSpecs.Recorder();
    Recipes.run(spec, new RunContext(dir, Map.of(), first, after(first, STEPS / 2)));
    RecipeSpecs.Recorder second = new RecipeSpecs.Recorder();
    RunResult resumed = Recipes.run(spec, new RunContext(dir, Map.of(), second, null));
    assertThat(second.events).anyMatch(e -> e.startsWith("resumed"));
    for (long s = STEPS / 2 + 1; s <= STEPS; s++) {
      assertThat(second.losses().get(s))
          .as("loss of step %d", s)
          .isEqualTo(straight.losses().get(s));
    }
    for (String file : new String[] {"model.safetensors", TrainingRecipe.OPTIMIZER_FILE}) {
      assertThat(Files.readAllBytes(resumed.lastCheckpoint().dir().resolve(file)))
          .as(file)
          .isEqualTo(Files.readAllBytes(full.lastCheckpoint().dir().resolve(file)));
    }
    assertThat(Files.size(full.lastCheckpoint().dir().resolve("model.safetensors")))
        .as("bf16 on disk: about 2 bytes a parameter")
        .isLessThan(
            3L
                * dev.distill.trainer.model.gemma2.Gemma2Config.preset("gemma2-tiny")
                    .parameterCount());
    assertThat(straight.losses().get(6L)).isNotEqualTo(straight.losses().get(4L));
  }

  @Test
  void resumingUnderAnotherSpecIsRefusedNamingTheSpecHash() throws Exception {
    Path dir = tmp.resolve("run");
    RecipeSpecs.Recorder r = new RecipeSpecs.Recorder();
    RunResult stopped =
        Recipes.run(spec(4, 4, 3e-3), new RunContext(dir, Map.of(), r, after(r, 1)));
    assertThat(stopped.outcome()).isEqualTo(RunResult.Outcome.PREEMPTED);
    assertThat(Files.isDirectory(stopped.lastCheckpoint().dir())).isTrue();

    JobSpec other = spec(4, 4, 1e-3);
    assertThatThrownBy(() -> Recipes.run(other, new RunContext(dir, Map.of(), null, null)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("spec_hash")
        .hasMessageContaining(SpecHash.of(other))
        .hasMessageContaining(stopped.lastCheckpoint().state().specHash());
  }

  @Test
  void aDamagedNewestCheckpointIsSkippedWithAnEventAndTheRunResumesFromTheOneBefore()
      throws Exception {
    JobSpec spec =
        RecipeSpecs.aFinetune()
            .student(ModelRef.of("builtin:gemma2-tiny"))
            .dataset(RecipeSpecs.procedural(300))
            .steps(STEPS)
            .batch(4, 4)
            .learningRate(3e-3)
            .checkpointEvery(2)
            .keepCheckpoints(2)
            .evalEvery(0)
            .build();
    Path dir = tmp.resolve("damaged");
    RecipeSpecs.Recorder first = new RecipeSpecs.Recorder();
    RunResult stopped = Recipes.run(spec, new RunContext(dir, Map.of(), first, after(first, 3)));
    assertThat(stopped.step()).isEqualTo(3); // checkpoints of steps 2 and 3
    Path weights = stopped.lastCheckpoint().dir().resolve("model.safetensors");
    byte[] bytes = Files.readAllBytes(weights);
    bytes[bytes.length / 2] ^= 0x40;
    Files.write(weights, bytes);

    RecipeSpecs.Recorder second = new RecipeSpecs.Recorder();
    RunResult resumed = Recipes.run(spec, new RunContext(dir, Map.of(), second, null));

    assertThat(resumed.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(second.events.get(0))
        .startsWith("checkpoint_skipped: skipped checkpoint step-000003")
        .contains("model.safetensors")
        .contains("SHA-256 mismatch");
    assertThat(second.events.get(1)).isEqualTo("resumed: resumed from step-000002 at step 2");
    assertThat(second.losses().keySet()).containsExactly(3L, 4L, 5L, 6L);
    assertThat(second.losses().get(3L)).isCloseTo(first.losses().get(3L), within(1e-6));
    assertThat(dir.resolve("checkpoints/.step-000003.damaged/model.safetensors")).exists();
    // the next checkpoint tells the service that step 3 is gone
    assertThat(second.checkpoints.get(0).step()).isEqualTo(4);
    assertThat(second.checkpoints.get(0).deleted())
        .containsExactly(dir.resolve("checkpoints").resolve(CheckpointManager.dirName(3)));
  }
}
