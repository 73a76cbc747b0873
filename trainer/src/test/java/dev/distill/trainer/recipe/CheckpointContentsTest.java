package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.checkpoint.Checkpoint;
import dev.distill.trainer.checkpoint.CheckpointManager;
import dev.distill.trainer.data.Batch;
import dev.distill.trainer.data.Datasets;
import dev.distill.trainer.model.gemma2.Gemma2Config;
import dev.distill.trainer.safetensors.SafetensorsFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The final checkpoint is a loadable Hugging Face Gemma2ForCausalLM directory plus the trainer's
 * own files, and only the newest {@code keep_checkpoints} directories remain.
 */
class CheckpointContentsTest {

  @TempDir Path tmp;

  @Test
  void finalCheckpointIsAGemma2DirectoryAndOldOnesArePruned() throws Exception {
    JobSpec spec =
        RecipeSpecs.finetune(
            ModelRef.of("builtin:gemma2-tiny"),
            RecipeSpecs.procedural(300),
            RecipeSpecs.hp(5, 4, 4, 3e-3, 1, 2, 0));
    RecipeSpecs.Recorder r = new RecipeSpecs.Recorder();
    RunResult result = Recipes.run(spec, new RunContext(tmp, Map.of(), r, null));

    assertThat(result.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    // a checkpoint after every step; only the last two stay on disk
    assertThat(r.checkpoints).extracting(Checkpoint::step).containsExactly(1L, 2L, 3L, 4L, 5L);
    try (var dirs = Files.list(tmp.resolve("checkpoints"))) {
      assertThat(dirs.map(p -> p.getFileName().toString()).sorted().toList())
          .containsExactly(CheckpointManager.dirName(4), CheckpointManager.dirName(5));
    }

    Path dir = result.lastCheckpoint().dir();
    assertThat(dir.getFileName().toString()).isEqualTo(CheckpointManager.dirName(5));
    for (String f :
        List.of(
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "optimizer.safetensors",
            "trainer_state.json",
            "manifest.json")) {
      assertThat(dir.resolve(f)).as(f).isRegularFile();
    }
    // the manifest verifies, and the state is this run's
    Checkpoint loaded = CheckpointManager.load(dir);
    assertThat(loaded.step()).isEqualTo(5);
    assertThat(loaded.state().specHash()).isEqualTo(SpecHash.of(spec));
    assertThat(loaded.state().tokensSeen()).isPositive();
    assertThat(Gemma2Config.read(dir.resolve("config.json")))
        .isEqualTo(Gemma2Config.preset("gemma2-tiny"));
    assertThat(Files.readString(dir.resolve("config.json"))).contains("Gemma2ForCausalLM");
    try (SafetensorsFile opt = SafetensorsFile.open(dir.resolve("optimizer.safetensors"))) {
      assertThat(opt.names()).isNotEmpty();
      assertThat(opt.metadata()).containsEntry("step", "5");
    }

    // the saved weights are the trained ones: reloaded, they score the final validation loss
    double finalValLoss = r.evals.get(5L).get("val_loss");
    try (NDManager manager = NDManager.newBaseManager();
        Models.Loaded m = Models.load(dir, null, manager)) {
      assertThat(m.tokenizer().vocabSize()).isEqualTo(Gemma2Config.SMALL_VOCAB);
      List<Batch> val =
          Datasets.open(spec.dataset(), m.tokenizer())
              .validationBatches(4, m.tokenizer().padId(), 48);
      double ce = Evaluator.losses(m.model(), null, val, manager, 16, null).get(Evaluator.CE);
      assertThat(ce).isCloseTo(finalValLoss, within(1e-5));
    }
    // and they differ from the initial weights
    try (NDManager manager = NDManager.newBaseManager();
        Models.Loaded init =
            Models.resolve(ModelRef.of("builtin:gemma2-tiny"), null, manager, 42L)) {
      List<Batch> val =
          Datasets.open(spec.dataset(), init.tokenizer())
              .validationBatches(4, init.tokenizer().padId(), 48);
      double ce = Evaluator.losses(init.model(), null, val, manager, 16, null).get(Evaluator.CE);
      assertThat(ce).isGreaterThan(finalValLoss + 0.05);
    }
  }
}
