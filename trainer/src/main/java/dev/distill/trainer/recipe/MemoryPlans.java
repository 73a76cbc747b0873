package dev.distill.trainer.recipe;

import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import dev.distill.spec.TeacherPassSettings;
import dev.distill.spec.plan.MemoryPlan;
import dev.distill.spec.plan.ModelShape;
import dev.distill.spec.plan.Precision;
import dev.distill.spec.plan.SpecPlans;
import dev.distill.trainer.cache.TeacherCache;
import dev.distill.trainer.model.gemma2.Gemma2Config;
import dev.distill.trainer.tokenize.ByteTokenizer;
import dev.distill.trainer.tokenize.Tokenizer;
import dev.distill.trainer.tokenize.Tokenizers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The memory plan of a spec with every model's shape known, as this process sees the files: a
 * {@code file:} or {@code job:} model's {@code config.json}, a tokenizer file's vocabulary. No
 * weights are read. The worker checks it before a job starts; {@code distill plan} prints it.
 */
public final class MemoryPlans {

  private MemoryPlans() {}

  /**
   * @param artifacts local directories of the spec's {@code job:} models, by job id (may be empty:
   *     such a model is then unknown)
   * @return empty when a model's shape cannot be told (a {@code job:} model not handed over)
   * @throws IllegalArgumentException when a config.json or tokenizer cannot be read
   */
  public static Optional<MemoryPlan> forSpec(
      JobSpec spec, Precision precision, Map<String, Path> artifacts) {
    return SpecPlans.inputs(
            spec,
            precision,
            (ref, donor) -> shape(ref, donor, artifacts),
            cacheTopK(spec, artifacts))
        .map(MemoryPlan::of);
  }

  /**
   * The {@code top_k} of the teacher cache a distill job trains from, read from the cache's
   * manifest ({@code key.top_k}) when it was handed over, else {@code teacher_pass.top_k}'s
   * default.
   */
  private static int cacheTopK(JobSpec spec, Map<String, Path> artifacts) {
    if (spec.teacherLogits() != null) {
      Path dir = artifacts.get(ModelRef.of(spec.teacherLogits()).target());
      if (dir != null && TeacherCache.isSealed(dir)) {
        JsonNode k =
            JsonMapper.builder().build().readTree(dir.resolve(TeacherCache.MANIFEST).toFile());
        return k.path("key").path("top_k").asInt(TeacherPassSettings.defaults().topK());
      }
    }
    return TeacherPassSettings.defaults().topK();
  }

  /**
   * Why a job cannot run in some memory, or empty when it fits or its plan cannot be made: the
   * worker's check before it opens anything. Planned in the precision the run will have: the
   * spec's, else the device's default (bf16-mixed on CUDA, fp32 on CPU), as the recipes resolve it.
   *
   * @param deviceKind {@code cpu} or {@code cuda}
   * @param availableBytes the memory the worker offers
   */
  public static Optional<String> doesNotFit(
      JobSpec spec, Map<String, Path> artifacts, String deviceKind, long availableBytes) {
    Precision p = Precision.resolve(spec.hyperparameters().precision(), deviceKind);
    return forSpec(spec, p, artifacts)
        .map(plan -> plan.onDevice(availableBytes))
        .filter(plan -> !plan.fits())
        .map(
            plan ->
                String.format(
                    "memory plan needs %,d MiB (%s, total of %s) but this worker has %,d MiB;"
                        + " set requirements.min_memory_mb or run it on a larger worker",
                    plan.totalMib(),
                    p.json(),
                    String.join(" + ", plan.components().keySet()),
                    availableBytes >> 20));
  }

  private static Optional<ModelShape> shape(
      ModelRef ref, ModelRef donor, Map<String, Path> artifacts) {
    if (ref.isBuiltin()) {
      Tokenizer tokenizer = tokenizer(ref, donor, artifacts);
      Gemma2Config c =
          Gemma2Config.preset(ref.target())
              .withOverrides(Models.followTokenizer(tokenizer, ref.config()));
      return Optional.of(c.shape());
    }
    return directory(ref, artifacts)
        .map(dir -> Gemma2Config.read(dir.resolve("config.json")).shape());
  }

  private static Optional<Path> directory(ModelRef ref, Map<String, Path> artifacts) {
    if (ref.isJob()) {
      return Optional.ofNullable(artifacts.get(ref.target()));
    }
    return ref.isFile() ? Optional.of(Path.of(ref.target())) : Optional.empty();
  }

  /** The tokenizer {@link Models#resolve} would give a builtin model (read for its size only). */
  private static Tokenizer tokenizer(ModelRef ref, ModelRef donor, Map<String, Path> artifacts) {
    if (ref.tokenizer() != null) {
      return Tokenizers.load(ref.tokenizer());
    }
    if (donor == null) {
      return ByteTokenizer.instance();
    }
    if (donor.isBuiltin()) {
      return donor.tokenizer() == null
          ? ByteTokenizer.instance()
          : Tokenizers.load(donor.tokenizer());
    }
    Optional<Path> dir = directory(donor, artifacts);
    if (dir.isPresent() && Files.isRegularFile(dir.get().resolve("tokenizer.json"))) {
      return Tokenizers.load(dir.get());
    }
    // a teacher cache (teacher_logits) keeps its tokenizer in a directory of its own
    if (dir.isPresent() && TeacherCache.isSealed(dir.get())) {
      return Tokenizers.load(dir.get().resolve(TeacherPassRecipe.TOKENIZER_DIR));
    }
    return ByteTokenizer.instance();
  }
}
