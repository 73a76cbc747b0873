package dev.distill.trainer.recipe;

import ai.djl.ndarray.NDManager;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.loss.KdLossConfig;
import dev.distill.trainer.model.gemma2.Gemma2Config;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.tokenize.ByteTokenizer;
import dev.distill.trainer.tokenize.Tokenizer;
import dev.distill.trainer.tokenize.Tokenizers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * Turns a {@link ModelRef} into a model and its tokenizer; writes both into a checkpoint directory.
 */
final class Models {

  /**
   * A model with its tokenizer.
   *
   * @param tokenizerSource the directory or file the tokenizer came from, or null for the byte
   *     tokenizer
   */
  record Loaded(Gemma2Model model, Tokenizer tokenizer, Path tokenizerSource)
      implements AutoCloseable {
    @Override
    public void close() {
      model.close();
    }
  }

  private Models() {}

  /** The GPU when the engine sees one, else the CPU: the same code runs on both. */
  static ai.djl.Device device() {
    return ai.djl.engine.Engine.getInstance().getGpuCount() > 0
        ? ai.djl.Device.gpu()
        : ai.djl.Device.cpu();
  }

  /**
   * Checks that teacher and student compare distributions over one vocabulary.
   *
   * @return null when both output sizes are equal, else the tokenizer's size (the shared ids of a
   *     padded superset)
   * @throws IllegalArgumentException when their tokenizers differ
   */
  static Integer sharedVocab(Loaded teacher, Loaded student) {
    if (teacher.tokenizer().vocabSize() != student.tokenizer().vocabSize()) {
      throw new IllegalArgumentException(
          "teacher and student tokenizers differ: "
              + teacher.tokenizer().vocabSize()
              + " vs "
              + student.tokenizer().vocabSize()
              + " tokens; distillation compares distributions over one vocabulary");
    }
    return teacher.model().vocabSize() == student.model().vocabSize()
        ? null
        : student.tokenizer().vocabSize();
  }

  /**
   * @param ref the reference from the spec
   * @param ctx for the local directories of {@code job:} references
   * @param manager where the weights live
   * @param seed initialisation seed of builtin models
   */
  static Loaded resolve(ModelRef ref, RunContext ctx, NDManager manager, long seed) {
    if (ref.isBuiltin()) {
      String name = ref.target();
      if (!Gemma2Config.PRESETS.contains(name)) {
        throw new IllegalArgumentException(
            "unknown builtin model '" + name + "', expected one of " + Gemma2Config.PRESETS);
      }
      Gemma2Config config = Gemma2Config.preset(name).withOverrides(ref.config());
      Tokenizer tokenizer =
          ref.tokenizer() == null ? ByteTokenizer.instance() : Tokenizers.load(ref.tokenizer());
      if (tokenizer.vocabSize() > config.vocabSize()) {
        throw new IllegalArgumentException(
            "model "
                + ref.uri()
                + ": vocab_size "
                + config.vocabSize()
                + " is smaller than the tokenizer's "
                + tokenizer.vocabSize());
      }
      Path source =
          ref.tokenizer() == null
              ? null
              : Path.of(ref.tokenizer().substring(ModelRef.FILE.length()));
      return new Loaded(Gemma2Model.init(config, manager, seed), tokenizer, source);
    }
    Path dir;
    if (ref.isJob()) {
      dir = ctx.artifacts().get(ref.target());
      if (dir == null) {
        throw new IllegalArgumentException(
            "model " + ref.uri() + ": no output of that job was handed to this run");
      }
    } else {
      dir = Path.of(ref.target());
    }
    return load(dir, ref.tokenizer(), manager);
  }

  /** A Hugging Face model directory (a checkpoint of ours or a downloaded model). */
  static Loaded load(Path dir, String tokenizerRef, NDManager manager) {
    if (!Files.isDirectory(dir)) {
      throw new IllegalArgumentException(dir + ": not a model directory");
    }
    Tokenizer tokenizer;
    Path source;
    if (tokenizerRef != null) {
      tokenizer = Tokenizers.load(tokenizerRef);
      source =
          tokenizerRef.equals(dev.distill.spec.Catalog.BYTE_TOKENIZER)
              ? null
              : Path.of(tokenizerRef.substring(ModelRef.FILE.length()));
    } else if (Files.isRegularFile(dir.resolve("tokenizer.json"))) {
      tokenizer = Tokenizers.load(dir);
      source = dir;
    } else {
      tokenizer = ByteTokenizer.instance();
      source = null;
    }
    return new Loaded(Gemma2Model.load(dir, manager), tokenizer, source);
  }

  /** Writes the model (config.json, safetensors) and its tokenizer files into a directory. */
  static void save(Loaded m, Path dir) throws IOException {
    m.model().save(dir);
    if (m.tokenizer() instanceof ByteTokenizer b) {
      b.writeTo(dir);
      return;
    }
    Path src = m.tokenizerSource();
    if (src == null) {
      return;
    }
    Path srcDir = Files.isDirectory(src) ? src : src.getParent();
    Path tokenizerJson = Files.isDirectory(src) ? src.resolve("tokenizer.json") : src;
    Files.copy(tokenizerJson, dir.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
    for (String extra : List.of("tokenizer_config.json", "special_tokens_map.json")) {
      if (Files.isRegularFile(srcDir.resolve(extra))) {
        Files.copy(srcDir.resolve(extra), dir.resolve(extra), StandardCopyOption.REPLACE_EXISTING);
      }
    }
  }

  /**
   * Loss tokens per chunk of a job: {@code loss_chunk_size} when the spec gives it, else sized from
   * the widest output of the models in the loss ({@link KdLossConfig#chunkSize}).
   *
   * @param teacher null without a teacher
   */
  static int lossChunk(Integer requested, Loaded student, Loaded teacher) {
    int widest =
        Math.max(student.model().vocabSize(), teacher == null ? 0 : teacher.model().vocabSize());
    return KdLossConfig.chunkSize(requested, widest);
  }
}
