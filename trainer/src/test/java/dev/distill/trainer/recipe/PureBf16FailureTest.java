package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.checkpoint.Checkpoint;
import dev.distill.trainer.fused.FusedOps;
import dev.distill.trainer.model.NoGrad;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.model.gemma2.Gemma2WeightNames;
import dev.distill.trainer.model.gemma2.Gemma2WeightNames.Layer;
import dev.distill.trainer.optim.NonFiniteGradientException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pure bf16 updates each layer inside the backward pass, so a NaN or infinite gradient found in a
 * lower layer leaves the layers above it already updated in memory. The job then fails saying so
 * (which update, what was updated, that no checkpoint holds it, how to go on), is not retried, and
 * no checkpoint is ever written from that model: the last one on disk stays as it was.
 *
 * <p>The poison: layer 0's o_proj all zero (its attention output is 0) and its post-attention norm
 * weight 3e38. The forward is finite (that norm gives 0 x rsqrt(eps) x (1 + 3e38) = 0), the layer
 * above sees ordinary inputs and gets ordinary gradients, but the norm's backward multiplies the
 * incoming gradient by (1 + 3e38) rsqrt(eps), which overflows: layer 0's gradient is not finite. A
 * small rms_norm_eps (1e-20: rsqrt 1e10) makes that overflow certain for any non-zero gradient.
 */
class PureBf16FailureTest {

  private static final ModelRef TINY =
      new ModelRef("builtin:gemma2-tiny", Map.of("rms_norm_eps", 1e-20), null);

  @TempDir Path tmp;

  private static JobSpec spec() {
    return RecipeSpecs.aFinetune()
        .student(TINY)
        .steps(4)
        .batch(4)
        .learningRate(1e-2)
        .precision("bf16")
        .checkpointEvery(2)
        .evalEvery(0)
        .build();
  }

  /** Layer 0's o_proj set to zero and its post-attention norm to 3e38, as bf16 bits in place. */
  private static void poison(Gemma2Model m) {
    Map<String, NDArray> p = m.baseParameters();
    try (NoGrad ignored = NoGrad.enter();
        NDManager tmp = p.get(Layer.O_PROJ.of(0)).getManager().newSubManager()) {
      NDArray o = p.get(Layer.O_PROJ.of(0)); // (D, 2 H hd) int8 bits
      o.set(
          new NDIndex("..."),
          FusedOps.bf16Bits(tmp.zeros(m.parameterShapes().get(Layer.O_PROJ.of(0)))));
      NDArray n = p.get(Layer.POST_ATTN_NORM.of(0)); // (2 D) int8 bits
      n.set(
          new NDIndex("..."),
          FusedOps.bf16Bits(tmp.full(m.parameterShapes().get(Layer.POST_ATTN_NORM.of(0)), 3e38f)));
    }
  }

  /** Every weight the student holds, by name, as bytes. */
  private static Map<String, byte[]> bytesOf(Gemma2Model m) {
    Map<String, byte[]> out = new TreeMap<>();
    m.baseParameters().forEach((name, w) -> out.put(name, w.toByteArray()));
    return out;
  }

  /** Every file of a checkpoint directory, by name, as bytes. */
  private static Map<String, byte[]> contents(Path dir) throws Exception {
    Map<String, byte[]> m = new TreeMap<>();
    try (var files = Files.list(dir)) {
      for (Path f : files.toList()) {
        m.put(f.getFileName().toString(), Files.readAllBytes(f));
      }
    }
    return m;
  }

  private static List<String> stepDirs(Path checkpoints) throws Exception {
    try (var s = Files.list(checkpoints)) {
      return s.map(p -> p.getFileName().toString())
          .filter(n -> n.startsWith("step-") || n.startsWith(".step-"))
          .sorted()
          .toList();
    }
  }

  /** Runs the spec, poisoning the student when the checkpoint of {@code poisonAt} is written. */
  private static final class Run implements AutoCloseable {
    final TrainingRecipe recipe;
    final RecipeSpecs.Recorder recorder;
    final Map<String, byte[]> checkpointBytes = new TreeMap<>();
    final Map<String, byte[]> held = new TreeMap<>(); // the student's bits once poisoned
    Path checkpointDir;

    Run(Path out, long poisonAt) {
      this(out, poisonAt, PureBf16FailureTest::poison);
    }

    Run(Path out, long poisonAt, Consumer<Gemma2Model> poison) {
      TrainingRecipe[] self = new TrainingRecipe[1];
      Consumer<Checkpoint> onCheckpoint =
          c -> {
            if (c.step() == poisonAt) {
              try {
                checkpointDir = c.dir();
                checkpointBytes.putAll(contents(c.dir()));
              } catch (Exception e) {
                throw new IllegalStateException(e);
              }
              poison.accept(self[0].studentModel());
              held.putAll(bytesOf(self[0].studentModel()));
            }
          };
      recorder = new RecipeSpecs.Recorder();
      TrainingListener listener =
          new TrainingListener() {
            @Override
            public void onEvent(String type, String message) {
              recorder.onEvent(type, message);
            }

            @Override
            public void onStep(StepMetrics metrics) {
              recorder.onStep(metrics);
            }

            @Override
            public void onCheckpoint(Checkpoint checkpoint, boolean isFinal) {
              recorder.onCheckpoint(checkpoint, isFinal);
              onCheckpoint.accept(checkpoint);
            }
          };
      recipe = new TrainingRecipe(spec(), new RunContext(out, Map.of(), listener, null));
      self[0] = recipe;
      recipe.setup();
      if (poisonAt == 0) {
        poison.accept(recipe.studentModel());
        held.putAll(bytesOf(recipe.studentModel()));
      }
    }

    @Override
    public void close() {
      recipe.close();
    }
  }

  @Test
  void aNonFiniteGradientHalfWayFailsTheJobAndNoCheckpointHoldsTheHalfUpdatedModel()
      throws Exception {
    Path out = tmp.resolve("run");
    try (Run run = new Run(out, 2)) {
      Throwable failure = catchThrowable(run.recipe::train);

      // the reason: which update, what was updated, that nothing holds it, how to go on
      assertThat(failure).isInstanceOf(IllegalStateException.class);
      String reason = Recipes.describeFailure(failure);
      System.out.println("failure: " + reason);
      assertThat(reason)
          .startsWith("step 3 (precision bf16, AdamW inside the backward pass):")
          .contains("the gradient of layer 0 (model.layers.0.*) is ")
          .contains("layer 1 was already updated in memory by this step")
          .contains("half-updated and is not saved: no checkpoint holds it")
          .contains("The newest checkpoint on disk, " + run.checkpointDir.toAbsolutePath())
          .contains("(step 2), holds the model as it was before")
          .contains(
              "start a new job whose student is that directory (file:"
                  + run.checkpointDir.toAbsolutePath()
                  + "; for a service job a copy of it outside the artifact store)");
      assertThat(failure.getCause()).isInstanceOf(NonFiniteGradientException.class);
      NonFiniteGradientException cause = (NonFiniteGradientException) failure.getCause();
      assertThat(cause.update()).isEqualTo(3);
      assertThat(cause.groupsUpdated()).isEqualTo(1);
      assertThat(Double.isFinite(cause.norm())).isFalse();
      assertThat(Recipes.isRetryable(failure)).as("a retry meets the same batch").isFalse();
      assertThat(run.recorder.losses().keySet()).containsExactly(1L, 2L);

      // no checkpoint of the half-updated model, now or on any later save (a stop, a shutdown)
      Path checkpoints = out.resolve("checkpoints");
      assertThat(stepDirs(checkpoints)).containsExactly("step-000002");
      assertThat(contents(run.checkpointDir))
          .as("the last checkpoint, byte for byte as written before the step")
          .containsExactlyEntriesOf(run.checkpointBytes);
      assertThatThrownBy(run.recipe::saveCheckpoint)
          .isInstanceOf(IllegalStateException.class)
          .hasMessageStartingWith("no checkpoint is written from a half-updated model");
      assertThat(stepDirs(checkpoints)).containsExactly("step-000002");
    }

    // resuming (the same spec, the same output) starts from step 2's untouched checkpoint
    RecipeSpecs.Recorder resumed = new RecipeSpecs.Recorder();
    List<Long> resumedAt = new ArrayList<>();
    try (TrainingRecipe again =
        new TrainingRecipe(spec(), new RunContext(out, Map.of(), resumed, null))) {
      again.setup();
      resumed.events.stream()
          .filter(e -> e.startsWith("resumed"))
          .forEach(e -> resumedAt.add(Long.parseLong(e.substring(e.lastIndexOf(' ') + 1))));
    }
    assertThat(resumedAt).containsExactly(2L);
  }

  /**
   * A loss that is not finite (here: the final norm's weight NaN) is seen before the backward pass
   * reaches the layers: the step stops with nothing updated, as the other precisions stop at their
   * clipping step, and the model stays whole (it could be saved).
   */
  @Test
  void aNonFiniteLossStopsTheStepBeforeAnyWeightMoves() {
    Consumer<Gemma2Model> nanNorm =
        m -> {
          NDArray n = m.baseParameters().get(Gemma2WeightNames.FINAL_NORM); // (2 D) int8 bits
          try (NoGrad ignored = NoGrad.enter();
              NDManager tmp = n.getManager().newSubManager()) {
            n.set(
                new NDIndex("..."),
                FusedOps.bf16Bits(
                    tmp.full(m.parameterShapes().get(Gemma2WeightNames.FINAL_NORM), Float.NaN)));
          }
        };
    try (Run run = new Run(tmp.resolve("nan"), 2, nanNorm)) {
      Throwable failure = catchThrowable(run.recipe::train);
      assertThat(failure)
          .isInstanceOf(IllegalStateException.class)
          .hasMessage("loss is NaN at step 3 (precision bf16); no update was made");
      Map<String, byte[]> after = bytesOf(run.recipe.studentModel());
      assertThat(after.keySet()).isEqualTo(run.held.keySet());
      run.held.forEach(
          (name, bytes) -> assertThat(after.get(name)).as("%s unchanged", name).isEqualTo(bytes));
      assertThat(run.recipe.saveCheckpoint().step()).as("a whole model may be saved").isEqualTo(2);
    }
  }

  @Test
  void aNonFiniteGradientBeforeAnyCheckpointSaysTheJobStartsOver() {
    try (Run run = new Run(tmp.resolve("early"), 0)) {
      Throwable failure = catchThrowable(run.recipe::train);
      assertThat(failure)
          .hasMessageStartingWith("step 1 (precision bf16, AdamW inside the backward pass):")
          .hasMessageContaining("layer 1 was already updated in memory")
          .hasMessageContaining("No checkpoint was written before this step");
      assertThatThrownBy(run.recipe::saveCheckpoint)
          .hasMessageStartingWith("no checkpoint is written from a half-updated model");
    }
  }
}
