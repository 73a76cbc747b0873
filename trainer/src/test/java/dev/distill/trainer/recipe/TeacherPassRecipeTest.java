package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import dev.distill.spec.TeacherPassSettings;
import dev.distill.trainer.cache.TeacherCache;
import dev.distill.trainer.tokenize.ByteTokenizer;
import dev.distill.trainer.tokenize.TokenizerFixtures;
import java.nio.file.Path;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The teacher_pass recipe and a distill job training from its cache: the same student, data and
 * seed give the online run's loss when k covers the vocabulary (f32 storage), a second pass of the
 * same key reuses the first's cache, and a student of another tokenizer fails at start naming both.
 */
class TeacherPassRecipeTest {

  @TempDir Path tmp;

  private static final ModelRef TEACHER = ModelRef.of("builtin:gemma2-tiny");
  private static final ModelRef STUDENT =
      new ModelRef("builtin:gemma2-tiny", Map.of("num_hidden_layers", 1), null);
  private static final int VOCAB = ByteTokenizer.instance().vocabSize();

  private RunResult pass(String name, TeacherPassSettings s, RecipeSpecs.Recorder rec) {
    JobSpec spec =
        RecipeSpecs.aTeacherPass()
            .teacher(TEACHER)
            .dataset(RecipeSpecs.procedural(60))
            .batch(4)
            .teacherPass(s)
            .build();
    return Recipes.run(
        spec,
        new RunContext(
            tmp.resolve(name), Map.of(), rec, null, null, null, null, tmp.resolve("caches")));
  }

  private JobSpec passSpec(TeacherPassSettings s) {
    return RecipeSpecs.aTeacherPass()
        .teacher(TEACHER)
        .dataset(RecipeSpecs.procedural(60))
        .batch(4)
        .teacherPass(s)
        .build();
  }

  private RunContext context(String name, RecipeSpecs.Recorder rec) {
    return new RunContext(
        tmp.resolve(name), Map.of(), rec, null, null, null, null, tmp.resolve("caches"));
  }

  private RecipeSpecs.Job distill() {
    return RecipeSpecs.aDistill()
        .student(STUDENT)
        .dataset(RecipeSpecs.procedural(60))
        .steps(3)
        .batch(4)
        .checkpointEvery(100)
        .keepCheckpoints(1);
  }

  @Test
  void aCachedDistillationGivesTheOnlineLossWhenKCoversTheVocabulary() {
    RecipeSpecs.Recorder first = new RecipeSpecs.Recorder();
    RunResult written = pass("p1", new TeacherPassSettings(VOCAB, null, 3, "f32"), first);
    assertThat(written.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(first.events).filteredOn(e -> e.startsWith("shard_written")).hasSize(3);
    Path cacheDir = written.lastCheckpoint().dir();
    assertThat(cacheDir.resolve(TeacherCache.MANIFEST)).exists();

    String id = UUID.randomUUID().toString();
    RecipeSpecs.Recorder cached = new RecipeSpecs.Recorder();
    Recipes.run(
        distill().teacherLogits("job:" + id).build(),
        new RunContext(tmp.resolve("cached"), Map.of(id, cacheDir), cached, null));
    RecipeSpecs.Recorder online = new RecipeSpecs.Recorder();
    Recipes.run(
        distill().teacher(TEACHER).build(),
        new RunContext(tmp.resolve("online"), Map.of(), online, null));
    assertThat(cached.events).anyMatch(e -> e.startsWith("cache_opened"));
    assertThat(cached.steps).hasSize(3);
    for (int i = 0; i < 3; i++) {
      assertThat(cached.steps.get(i).kd())
          .as("kd of step %d", i + 1)
          .isCloseTo(online.steps.get(i).kd(), within(2e-4 * (1 + online.steps.get(i).kd())));
      assertThat(cached.steps.get(i).ce())
          .isCloseTo(online.steps.get(i).ce(), within(2e-4 * online.steps.get(i).ce()));
    }
  }

  @Test
  void aSecondPassOfTheSameKeyReusesTheFirstsCache() {
    TeacherPassSettings s = new TeacherPassSettings(8, null, 2, null);
    RunResult first = pass("p1", s, new RecipeSpecs.Recorder());
    RecipeSpecs.Recorder again = new RecipeSpecs.Recorder();
    RunResult second = pass("p2", s, again);
    assertThat(second.lastCheckpoint().dir()).isEqualTo(first.lastCheckpoint().dir());
    assertThat(second.lastCheckpoint().sha256()).isEqualTo(first.lastCheckpoint().sha256());
    assertThat(again.events).anyMatch(e -> e.startsWith("cache_reused"));
    assertThat(again.events).noneMatch(e -> e.startsWith("shard_written"));
    // another top_k is another key: computed
    RecipeSpecs.Recorder other = new RecipeSpecs.Recorder();
    RunResult third = pass("p3", new TeacherPassSettings(4, null, 2, null), other);
    assertThat(third.lastCheckpoint().dir()).isNotEqualTo(first.lastCheckpoint().dir());
    assertThat(other.events).filteredOn(e -> e.startsWith("shard_written")).hasSize(2);
  }

  @Test
  void aStudentOfAnotherTokenizerFailsAtStartNamingBoth() throws Exception {
    RunResult written =
        pass("p1", new TeacherPassSettings(8, null, 1, null), new RecipeSpecs.Recorder());
    Path tokenizer =
        TokenizerFixtures.writeGpt2(java.nio.file.Files.createDirectories(tmp.resolve("gpt2")));
    String id = UUID.randomUUID().toString();
    ModelRef other =
        new ModelRef(
            "builtin:gemma2-tiny",
            Map.of("num_hidden_layers", 1),
            "file:" + tokenizer.toAbsolutePath());
    RecipeSpecs.Recorder rec = new RecipeSpecs.Recorder();
    assertThatThrownBy(
            () ->
                Recipes.run(
                    distill().student(other).teacherLogits("job:" + id).build(),
                    new RunContext(
                        tmp.resolve("d"), Map.of(id, written.lastCheckpoint().dir()), rec, null)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("the student's tokenizer (sha256:")
        .hasMessageContaining("differs from the teacher cache's (byte, " + VOCAB + " tokens)");
    assertThat(rec.steps).isEmpty();
  }

  @Test
  void shardsWrittenAsSeparateTasksThenSealedGiveTheWholeRunsCache() throws Exception {
    TeacherPassSettings s = new TeacherPassSettings(8, null, 3, null);
    JobSpec spec = passSpec(s);
    // as three workers would, in any order, one of them twice (a retried task)
    for (int shard : new int[] {2, 0, 1, 0}) {
      RecipeSpecs.Recorder rec = new RecipeSpecs.Recorder();
      RunResult r = Recipes.runTask(spec, context("task-" + shard, rec), shard, false);
      assertThat(r.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
      assertThat(r.lastCheckpoint()).as("a shard task has no output").isNull();
      assertThat(rec.events)
          .filteredOn(e -> e.startsWith("shard_written") || e.startsWith("shard_reused"))
          .singleElement()
          .asString()
          .contains("shard " + shard);
    }
    Path cacheDir;
    RecipeSpecs.Recorder sealRec = new RecipeSpecs.Recorder();
    RunResult sealed = Recipes.runTask(spec, context("seal", sealRec), 3, true);
    cacheDir = sealed.lastCheckpoint().dir();
    assertThat(sealRec.events).noneMatch(e -> e.startsWith("shard_written"));
    String manifest = java.nio.file.Files.readString(cacheDir.resolve(TeacherCache.MANIFEST));
    try (TeacherCache c = TeacherCache.open(cacheDir)) {
      assertThat(c.manifest().sequences()).isEqualTo(sealed.samples());
    }
    // the whole pass in one run, elsewhere: the same manifest (every shard's digest included)
    RunResult whole = wholePass(spec);
    assertThat(
            java.nio.file.Files.readString(
                whole.lastCheckpoint().dir().resolve(TeacherCache.MANIFEST)))
        .isEqualTo(manifest);
    // a shard task of a sealed cache computes nothing
    RecipeSpecs.Recorder again = new RecipeSpecs.Recorder();
    Recipes.runTask(spec, context("again", again), 1, false);
    assertThat(again.events).anyMatch(e -> e.startsWith("cache_reused"));
    assertThat(again.events).noneMatch(e -> e.startsWith("shard_written"));
  }

  @Test
  void aSealWithAShardMissingFailsNamingTheFile() {
    JobSpec spec = passSpec(new TeacherPassSettings(8, null, 2, null));
    Recipes.runTask(spec, context("t0", new RecipeSpecs.Recorder()), 0, false);
    assertThatThrownBy(
            () -> Recipes.runTask(spec, context("seal", new RecipeSpecs.Recorder()), 2, true))
        .isInstanceOf(dev.distill.trainer.cache.TeacherCacheException.class)
        .hasMessageContaining("shard-00001-of-00002.dtc")
        .hasMessageContaining("missing");
  }

  @Test
  void theSealLoadsNoTeacherItSealsWithTheTeachersWeightsGone() throws Exception {
    // a teacher checkpoint of ours: the key names its weights by the manifest's digest
    JobSpec train =
        RecipeSpecs.aFinetune()
            .student(ModelRef.of("builtin:gemma2-tiny"))
            .dataset(RecipeSpecs.procedural(20))
            .steps(1)
            .batch(4)
            .build();
    Path teacherDir =
        Recipes.run(
                train,
                new RunContext(tmp.resolve("teacher"), Map.of(), new RecipeSpecs.Recorder(), null))
            .lastCheckpoint()
            .dir();
    JobSpec spec =
        RecipeSpecs.aTeacherPass()
            .teacher(ModelRef.of("file:" + teacherDir.toAbsolutePath()))
            .dataset(RecipeSpecs.procedural(60))
            .batch(4)
            .teacherPass(new TeacherPassSettings(8, null, 2, null))
            .build();
    for (int shard : new int[] {1, 0}) {
      Recipes.runTask(spec, context("task-" + shard, new RecipeSpecs.Recorder()), shard, false);
    }
    Path weights = teacherDir.resolve("model.safetensors");
    Path away = tmp.resolve("weights-away.safetensors");
    java.nio.file.Files.move(weights, away);

    RecipeSpecs.Recorder sealRec = new RecipeSpecs.Recorder();
    RunResult sealed = Recipes.runTask(spec, context("seal", sealRec), 2, true);

    assertThat(sealed.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(sealRec.events).noneMatch(e -> e.startsWith("warning"));
    String manifest =
        java.nio.file.Files.readString(
            sealed.lastCheckpoint().dir().resolve(TeacherCache.MANIFEST));
    // the same cache and held-out error as the whole pass in one run, which loads the teacher
    java.nio.file.Files.move(away, weights);
    RunResult whole = wholePass(spec);
    assertThat(
            java.nio.file.Files.readString(
                whole.lastCheckpoint().dir().resolve(TeacherCache.MANIFEST)))
        .isEqualTo(manifest);
    assertThat(sealed.metrics().get("cache_heldout_positions")).isPositive();
    for (String name :
        new String[] {"cache_heldout_kl", "cache_heldout_tail_mass", "cache_heldout_positions"}) {
      assertThat(sealed.metrics().get(name)).as(name).isEqualTo(whole.metrics().get(name));
    }
  }

  /** The whole pass of {@code spec} in one run, in a directory and store of its own. */
  private RunResult wholePass(JobSpec spec) {
    return Recipes.run(
        spec,
        new RunContext(
            tmp.resolve("whole"),
            Map.of(),
            new RecipeSpecs.Recorder(),
            null,
            null,
            null,
            null,
            tmp.resolve("other-store")));
  }
}
