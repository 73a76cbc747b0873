package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.generate.GenerationConfig;
import dev.distill.trainer.model.gemma2.Gemma2Config;
import dev.distill.trainer.tokenize.TokenizerFixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A model's special token ids and vocabulary come from its tokenizer: a preset's {@code vocab_size}
 * and BOS/EOS/pad ids follow its {@code tokenizer} unless the spec's {@code config} sets them, and
 * a builtin student without a tokenizer takes its teacher's.
 */
class TokenizerChoiceTest {

  private static final int GPT2_VOCAB = 50257;
  private static final int GPT2_EOS = 50256;
  private static final String TEACHER_ID = "6f1c2a9e-0d4b-4c1e-9a53-2b7d8e4f1a60";

  @TempDir Path tmp;
  private String gpt2;

  @BeforeEach
  void gpt2Tokenizer() throws Exception {
    gpt2 = "file:" + TokenizerFixtures.writeGpt2(Files.createDirectories(tmp.resolve("gpt2")));
  }

  @Test
  void aPresetFollowsItsTokenizerUnlessItsConfigSaysOtherwise() {
    try (NDManager manager = NDManager.newBaseManager()) {
      try (Models.Loaded m =
          Models.resolve(new ModelRef("builtin:gemma2-tiny", null, gpt2), null, manager, 1L)) {
        Gemma2Config c = m.model().config();
        assertThat(c.vocabSize()).isEqualTo(GPT2_VOCAB);
        assertThat(c.bosTokenId()).isEqualTo(GPT2_EOS); // GPT-2's <|endoftext|> is both
        assertThat(c.eosTokenIds()).containsExactly(GPT2_EOS);
        assertThat(c.padTokenId()).isEqualTo(GPT2_EOS); // no pad token: EOS pads
      }
      try (Models.Loaded m =
          Models.resolve(
              new ModelRef(
                  "builtin:gemma2-tiny", Map.of("vocab_size", 50304, "pad_token_id", 0), gpt2),
              null,
              manager,
              1L)) {
        assertThat(m.model().config().vocabSize()).isEqualTo(50304);
        assertThat(m.model().config().padTokenId()).isZero();
        assertThat(m.model().config().eosTokenIds()).containsExactly(GPT2_EOS);
      }
      assertThatThrownBy(
              () ->
                  Models.resolve(
                      new ModelRef("builtin:gemma2-tiny", Map.of("vocab_size", 1000), gpt2),
                      null,
                      manager,
                      1L))
          .hasMessageContaining("vocab_size 1000 is smaller than the tokenizer's 50257");
      try (Models.Loaded m =
          Models.resolve(ModelRef.of("builtin:gemma2-tiny"), null, manager, 1L)) {
        assertThat(m.model().config()).isEqualTo(Gemma2Config.preset("gemma2-tiny"));
      }
    }
  }

  @Test
  void aBuiltinStudentDistilledFromAJobTeacherUsesTheTeachersTokenizer() throws Exception {
    JobSpec teacherSpec =
        RecipeSpecs.finetune(
            new ModelRef("builtin:gemma2-tiny", null, gpt2),
            RecipeSpecs.procedural(40),
            RecipeSpecs.hp(1, 2, 2, 1e-3, 100, 1, 0));
    RunResult teacher =
        Recipes.run(teacherSpec, new RunContext(tmp.resolve("teacher"), Map.of(), null, null));
    Map<String, Path> artifacts = Map.of(TEACHER_ID, teacher.lastCheckpoint().dir());

    JobSpec distill =
        RecipeSpecs.distill(
            ModelRef.of("job:" + TEACHER_ID),
            ModelRef.of("builtin:gemma2-tiny"),
            RecipeSpecs.procedural(40),
            RecipeSpecs.hp(1, 2, 2, 1e-3, 100, 1, 0));
    RunResult student =
        Recipes.run(distill, new RunContext(tmp.resolve("student"), artifacts, null, null));
    assertThat(student.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    Path dir = student.lastCheckpoint().dir();
    Gemma2Config c = Gemma2Config.read(dir.resolve("config.json"));
    assertThat(c.vocabSize()).isEqualTo(GPT2_VOCAB);
    assertThat(c.eosTokenIds()).containsExactly(GPT2_EOS);
    assertThat(Files.readString(dir.resolve("tokenizer.json")))
        .isEqualTo(Files.readString(teacher.lastCheckpoint().dir().resolve("tokenizer.json")));
    JsonNode tokenizerConfig =
        JsonMapper.builder().build().readTree(dir.resolve("tokenizer_config.json").toFile());
    assertThat(tokenizerConfig.get("eos_token").asString()).isEqualTo("<|endoftext|>");
    // the gemma template's <end_of_turn> is no token of GPT-2's: EOS alone ends a generation
    assertThat(GenerationConfig.read(dir).eosTokenIds()).containsExactly(GPT2_EOS);

    // told otherwise, the student keeps its own tokenizer, and the mismatch is named
    JobSpec byteStudent =
        RecipeSpecs.distill(
            ModelRef.of("job:" + TEACHER_ID),
            new ModelRef("builtin:gemma2-tiny", null, "byte"),
            RecipeSpecs.procedural(40),
            RecipeSpecs.hp(1, 2, 2, 1e-3, 100, 1, 0));
    assertThatThrownBy(
            () ->
                Recipes.run(
                    byteStudent, new RunContext(tmp.resolve("byte"), artifacts, null, null)))
        .hasMessageContaining("teacher and student tokenizers differ: 50257 vs 272");
  }
}
