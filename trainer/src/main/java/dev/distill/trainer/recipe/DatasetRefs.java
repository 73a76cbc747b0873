package dev.distill.trainer.recipe;

import dev.distill.spec.DatasetSpec;
import dev.distill.spec.ModelRef;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Resolves a dataset {@code job:<id>} to the data file of that synthesize job's output, through the
 * local directories the worker was handed ({@link RunContext#artifacts()}).
 */
final class DatasetRefs {

  private DatasetRefs() {}

  /**
   * The spec itself, or for {@code job:<id>} a copy whose uri is the {@code file:} of that job's
   * {@value SynthesisRecipe#DATA_FILE}.
   *
   * @throws IllegalArgumentException naming the job when its output was not handed to this run or
   *     holds no data file
   */
  static DatasetSpec resolve(DatasetSpec spec, RunContext ctx) {
    if (spec != null && spec.isMix()) {
      java.util.List<dev.distill.spec.MixSource> sources = new java.util.ArrayList<>();
      for (var s : spec.mix()) {
        DatasetSpec one = resolve(spec.withSource(s.uri(), s.format()), ctx);
        sources.add(new dev.distill.spec.MixSource(one.uri(), s.format(), s.weight(), s.name()));
      }
      return new DatasetSpec(
          null,
          spec.format(),
          spec.template(),
          spec.maxSeqLen(),
          spec.validationFraction(),
          spec.maskPrompt(),
          spec.packing(),
          spec.numExamples(),
          spec.seed(),
          sources);
    }
    if (spec == null || spec.uri() == null || !spec.uri().startsWith(ModelRef.JOB)) {
      return spec;
    }
    String id = spec.uri().substring(ModelRef.JOB.length());
    Path dir = ctx.artifacts().get(id);
    if (dir == null) {
      throw new IllegalArgumentException(
          "dataset " + spec.uri() + ": no output of that job was handed to this run");
    }
    Path file = dir.resolve(SynthesisRecipe.DATA_FILE);
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException(
          "dataset "
              + spec.uri()
              + ": the job's output "
              + dir
              + " holds no "
              + SynthesisRecipe.DATA_FILE
              + " (only synthesize jobs produce data)");
    }
    return new DatasetSpec(
        "file:" + file.toAbsolutePath(),
        spec.format(),
        spec.template(),
        spec.maxSeqLen(),
        spec.validationFraction(),
        spec.maskPrompt(),
        spec.packing(),
        spec.numExamples(),
        spec.seed());
  }
}
