package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.distill.spec.DatasetSpec;
import dev.distill.spec.JobSpec;
import dev.distill.spec.MixSource;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.checkpoint.CheckpointManager;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A finetune on a mix of raw text and instruction data reports tokens per source, and a run stopped
 * half-way and resumed draws the same sources and rows as the uninterrupted run.
 */
class MixTrainingTest {

  private static final int STEPS = 8;

  @TempDir Path tmp;

  private JobSpec spec() throws IOException {
    Path text = tmp.resolve("raw.txt");
    StringBuilder raw = new StringBuilder();
    for (int i = 0; i < 40; i++) {
      raw.append("Document ").append(i).append(": the verdict of the jury was ").append(i * 7);
      raw.append(".\n\n");
    }
    Files.writeString(text, raw);
    Path alpaca = tmp.resolve("instructions.jsonl");
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      lines.add("{\"instruction\": \"Add " + i + " and 2.\", \"output\": \"" + (i + 2) + "\"}");
    }
    Files.write(alpaca, lines);
    DatasetSpec mix =
        new DatasetSpec(
            null,
            null,
            "gemma",
            48,
            0.0,
            true,
            null,
            null,
            11L,
            List.of(
                new MixSource("file:" + text, "text", 3.0, "raw"),
                new MixSource("file:" + alpaca, "alpaca", 1.0, null)));
    return RecipeSpecs.aFinetune()
        .student(ModelRef.of("builtin:gemma2-tiny"))
        .dataset(mix)
        .steps(STEPS)
        .batch(4, 2)
        .learningRate(3e-3)
        .checkpointEvery(100)
        .keepCheckpoints(2)
        .evalEvery(0)
        .build();
  }

  private static double tokens(StepMetrics m, String source) {
    return m.asMap().get("tokens_" + source);
  }

  @Test
  void aResumedMixRepeatsTheStraightRunsSourcesAndLosses() throws Exception {
    JobSpec spec = spec();
    RecipeSpecs.Recorder straight = new RecipeSpecs.Recorder();
    Recipes.run(spec, new RunContext(tmp.resolve("straight"), Map.of(), straight, null));
    assertThat(straight.steps).hasSize(STEPS);

    Path dir = tmp.resolve("interrupted");
    RecipeSpecs.Recorder first = new RecipeSpecs.Recorder();
    RunResult stopped =
        Recipes.run(
            spec,
            new RunContext(
                dir,
                Map.of(),
                first,
                () ->
                    first.steps.size() >= STEPS / 2
                        ? Optional.of(StopSignal.Reason.PREEMPTED)
                        : Optional.empty()));
    assertThat(stopped.step()).isEqualTo(STEPS / 2);
    String state =
        Files.readString(
            dir.resolve("checkpoints")
                .resolve(CheckpointManager.dirName(STEPS / 2))
                .resolve(CheckpointManager.TRAINER_STATE));
    assertThat(state).contains("\"mix\"").contains("\"cursors\"");

    RecipeSpecs.Recorder second = new RecipeSpecs.Recorder();
    Recipes.run(spec, new RunContext(dir, Map.of(), second, null));
    assertThat(second.events).anyMatch(e -> e.startsWith("resumed"));
    assertThat(second.steps).hasSize(STEPS / 2);

    List<StepMetrics> resumed = new ArrayList<>(first.steps);
    resumed.addAll(second.steps);
    for (int s = 0; s < STEPS; s++) {
      StepMetrics a = straight.steps.get(s);
      StepMetrics b = resumed.get(s);
      assertThat(tokens(b, "raw")).as("tokens_raw at step %d", s + 1).isEqualTo(tokens(a, "raw"));
      assertThat(tokens(b, "1")).as("tokens_1 at step %d", s + 1).isEqualTo(tokens(a, "1"));
      assertThat(b.loss()).as("loss at step %d", s + 1).isCloseTo(a.loss(), within(1e-6));
    }
    // both sources were drawn, the raw text (weight 3, loss on every token) the most
    StepMetrics last = straight.steps.get(STEPS - 1);
    assertThat(tokens(last, "1")).isPositive();
    assertThat(tokens(last, "raw")).isGreaterThan(tokens(last, "1"));
  }

  @Test
  void aMixWithAugmentedTextReportsTheValidationLossOfEachSource() throws Exception {
    Path text = tmp.resolve("raw.txt");
    StringBuilder raw = new StringBuilder();
    for (int i = 0; i < 40; i++) {
      raw.append("Document ").append(i).append(": the verdict of the jury was ").append(i * 7);
      raw.append(".\n\n");
    }
    Files.writeString(text, raw);
    // instruction-augmented text as synthesize (generation.mode corpus) writes it
    Path augmented = tmp.resolve("augmented.jsonl");
    List<String> rows = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      String chunk = "The jury of case " + i + " sat for " + (i % 5 + 1) + " days.";
      String q = "How long did the jury of case " + i + " sit?";
      String a = (i % 5 + 1) + " days";
      rows.add(
          "{\"text\": \""
              + chunk
              + "\\n\\nQuestion: "
              + q
              + "\\nAnswer: "
              + a
              + "\", \"pairs\": [{\"question\": \""
              + q
              + "\", \"answer\": \""
              + a
              + "\"}], \"source\": {\"chunk\": "
              + i
              + "}}");
    }
    Files.write(augmented, rows);
    Path alpaca = tmp.resolve("instructions.jsonl");
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      lines.add("{\"instruction\": \"Add " + i + " and 2.\", \"output\": \"" + (i + 2) + "\"}");
    }
    Files.write(alpaca, lines);
    DatasetSpec mix =
        new DatasetSpec(
            null,
            null,
            "gemma",
            48,
            0.25,
            true,
            null,
            null,
            11L,
            List.of(
                new MixSource("file:" + text, "text", 2.0, "raw"),
                new MixSource("file:" + augmented, "augmented", 1.0, "aug"),
                new MixSource("file:" + alpaca, "alpaca", 1.0, "sft")));
    JobSpec spec =
        RecipeSpecs.aFinetune()
            .student(ModelRef.of("builtin:gemma2-tiny"))
            .dataset(mix)
            .steps(4)
            .batch(4, 2)
            .learningRate(3e-3)
            .checkpointEvery(100)
            .keepCheckpoints(2)
            .evalEvery(2)
            .build();
    RecipeSpecs.Recorder rec = new RecipeSpecs.Recorder();
    Recipes.run(spec, new RunContext(tmp.resolve("run"), Map.of(), rec, null));
    assertThat(rec.evals).containsOnlyKeys(2L, 4L);
    for (Map<String, Double> m : rec.evals.values()) {
      double overall = m.get("val_loss");
      double rawLoss = m.get("val_loss_raw");
      double augLoss = m.get("val_loss_aug");
      double sftLoss = m.get("val_loss_sft");
      // each source on its own held-out share; the overall loss (all tokens together) lies among
      for (double v : new double[] {rawLoss, augLoss, sftLoss}) {
        assertThat(v).isFinite().isPositive();
      }
      assertThat(overall)
          .isBetween(
              Math.min(rawLoss, Math.min(augLoss, sftLoss)) - 1e-6,
              Math.max(rawLoss, Math.max(augLoss, sftLoss)) + 1e-6);
      assertThat(rawLoss).isNotEqualTo(augLoss);
    }
    // the augmented source trains on every token, as raw text does
    StepMetrics last = rec.steps.get(rec.steps.size() - 1);
    assertThat(tokens(last, "aug")).isPositive();
  }
}
