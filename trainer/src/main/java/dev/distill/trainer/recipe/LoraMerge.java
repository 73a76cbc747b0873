package dev.distill.trainer.recipe;

import ai.djl.ndarray.NDManager;
import dev.distill.trainer.generate.GenerationConfig;
import dev.distill.trainer.model.gemma2.Gemma2Lora;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Folds a PEFT adapter into its base ({@code W += (alpha / r) B A} for every adapted projection)
 * and writes a full Gemma2ForCausalLM directory that needs neither PEFT nor the base: config.json,
 * fp32 model.safetensors, the tokenizer and generation_config.json (the adapter directory's, else
 * the base's).
 */
public final class LoraMerge {

  /**
   * What a merge wrote.
   *
   * @param base the base directory used
   * @param adaptedProjections the adapter's target modules times the layers
   */
  public record Result(Path base, Path output, int rank, long adaptedProjections) {}

  private LoraMerge() {}

  /**
   * @param adapterDir a directory with {@code adapter_config.json} and {@code
   *     adapter_model.safetensors}
   * @param baseDir the base model's directory; null for the adapter's {@code
   *     base_model_name_or_path}
   * @param outDir where the merged model goes: must not exist, or be an empty directory
   * @throws IllegalArgumentException naming the directory or file at fault
   */
  public static Result merge(Path adapterDir, Path baseDir, Path outDir) {
    if (!Files.isRegularFile(adapterDir.resolve(Gemma2Lora.CONFIG_FILE))) {
      throw new IllegalArgumentException(
          adapterDir + ": no " + Gemma2Lora.CONFIG_FILE + " (not an adapter directory)");
    }
    Path base = baseDir != null ? baseDir : Gemma2Lora.baseOf(adapterDir);
    if (!Files.isRegularFile(base.resolve("config.json"))) {
      throw new IllegalArgumentException(base + ": no config.json (not a base model directory)");
    }
    requireEmpty(outDir);
    try (NDManager manager = NDManager.newBaseManager();
        Gemma2Model model = Gemma2Model.load(base, manager)) {
      model.attach(Gemma2Lora.load(adapterDir, model.config(), manager));
      int rank = model.adapters().spec().rank();
      long adapted =
          (long) model.adapters().spec().targetModules().size() * model.config().numHiddenLayers();
      model.mergeAdapters();
      Files.createDirectories(outDir);
      model.save(outDir);
      // the tokenizer and generation settings of the adapter directory (ours has them), else
      // the base's
      for (String file :
          List.of(
              "tokenizer.json",
              "tokenizer_config.json",
              "special_tokens_map.json",
              GenerationConfig.FILE)) {
        for (Path dir : List.of(adapterDir, base)) {
          if (Files.isRegularFile(dir.resolve(file))) {
            Files.copy(dir.resolve(file), outDir.resolve(file));
            break;
          }
        }
      }
      return new Result(base, outDir, rank, adapted);
    } catch (IOException e) {
      throw new UncheckedIOException(outDir + ": cannot write the merged model: " + e, e);
    }
  }

  private static void requireEmpty(Path outDir) {
    if (!Files.exists(outDir)) {
      return;
    }
    if (!Files.isDirectory(outDir)) {
      throw new IllegalArgumentException(outDir + ": exists and is not a directory");
    }
    try (var entries = Files.list(outDir)) {
      if (entries.findAny().isPresent()) {
        throw new IllegalArgumentException(outDir + ": not empty (the merge writes a new model)");
      }
    } catch (IOException e) {
      throw new UncheckedIOException(outDir + ": cannot list: " + e, e);
    }
  }
}
