package dev.distill.app.cli;

import dev.distill.trainer.recipe.LoraMerge;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code distill merge --adapter DIR [--base DIR] -o OUT}: folds a LoRA adapter (a LoRA run's
 * checkpoint, or any PEFT adapter of a Gemma 2) into its base and writes a full Gemma2ForCausalLM
 * directory. The work is {@link LoraMerge}'s.
 */
@Command(
    name = "merge",
    description = "Merge a LoRA adapter into its base: writes a full Gemma2ForCausalLM directory.")
public final class MergeCommand implements Callable<Integer> {

  @Spec CommandSpec spec;

  @Option(
      names = "--adapter",
      required = true,
      description = "Adapter directory (adapter_config.json, adapter_model.safetensors).")
  Path adapter;

  @Option(
      names = "--base",
      description = "Base model directory; default: the adapter's base_model_name_or_path.")
  Path base;

  @Option(
      names = {"-o", "--out"},
      required = true,
      description = "Output directory; must not exist or be empty.")
  Path out;

  @Override
  public Integer call() {
    LoraMerge.Result r = LoraMerge.merge(adapter, base, out);
    spec.commandLine()
        .getOut()
        .printf(
            "merged %d adapted projections (rank %d) into %s: wrote %s%n",
            r.adaptedProjections(), r.rank(), r.base(), r.output());
    spec.commandLine().getOut().flush();
    return 0;
  }
}
