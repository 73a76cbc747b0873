package dev.distill.trainer.recipe;

import ai.djl.ndarray.NDManager;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.data.PromptTemplate;
import dev.distill.trainer.generate.GenerationConfig;
import dev.distill.trainer.loss.KdLossConfig;
import dev.distill.trainer.model.gemma2.Gemma2Config;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.tokenize.ByteTokenizer;
import dev.distill.trainer.tokenize.Tokenizer;
import dev.distill.trainer.tokenize.Tokenizers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

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
    return resolve(ref, ctx, manager, seed, (Loaded) null);
  }

  /**
   * A model whose tokenizer may come from another: a {@code builtin:} model without a {@code
   * tokenizer} of its own takes {@code tokenizerDonor}'s (a student the teacher's, so that both
   * compare distributions over one vocabulary), else the byte tokenizer. A preset's {@code
   * vocab_size} and special token ids follow its tokenizer unless the spec's {@code config} sets
   * them.
   *
   * @param tokenizerDonor the model whose tokenizer a builtin model without one uses, or null
   */
  static Loaded resolve(
      ModelRef ref, RunContext ctx, NDManager manager, long seed, Loaded tokenizerDonor) {
    return resolve(
        ref, ctx, manager, seed, tokenizerDonor == null ? null : tokenizerDonor.tokenizerSource());
  }

  /**
   * {@link #resolve(ModelRef, RunContext, NDManager, long, Loaded)} with the donor's tokenizer
   * given by where it lives (a directory with {@code tokenizer.json}, or null for none).
   */
  static Loaded resolve(
      ModelRef ref, RunContext ctx, NDManager manager, long seed, Path donorTokenizer) {
    if (ref.isBuiltin()) {
      String name = ref.target();
      if (!Gemma2Config.PRESETS.contains(name)) {
        throw new IllegalArgumentException(
            "unknown builtin model '" + name + "', expected one of " + Gemma2Config.PRESETS);
      }
      Tokenizer tokenizer;
      Path source;
      if (ref.tokenizer() != null) {
        tokenizer = Tokenizers.load(ref.tokenizer());
        source =
            ref.tokenizer().equals("byte")
                ? null
                : Path.of(ref.tokenizer().substring(ModelRef.FILE.length()));
      } else if (donorTokenizer != null) {
        source = donorTokenizer;
        tokenizer = Tokenizers.load(source);
      } else {
        tokenizer = ByteTokenizer.instance();
        source = null;
      }
      Gemma2Config config =
          Gemma2Config.preset(name).withOverrides(followTokenizer(tokenizer, ref.config()));
      if (tokenizer.vocabSize() > config.vocabSize()) {
        throw new IllegalArgumentException(
            "model "
                + ref.uri()
                + ": vocab_size "
                + config.vocabSize()
                + " is smaller than the tokenizer's "
                + tokenizer.vocabSize());
      }
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

  /**
   * The config overrides of a preset trained with a tokenizer: its vocabulary size and BOS, EOS and
   * pad ids, then the spec's own overrides, which win.
   */
  static Map<String, Object> followTokenizer(Tokenizer tokenizer, Map<String, Object> explicit) {
    Map<String, Object> m = new HashMap<>();
    m.put("vocab_size", tokenizer.vocabSize());
    m.put("bos_token_id", tokenizer.bosId() < 0 ? null : tokenizer.bosId());
    m.put("eos_token_id", tokenizer.eosId() < 0 ? null : tokenizer.eosId());
    m.put("pad_token_id", tokenizer.padId());
    m.putAll(explicit);
    return m;
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

  /** Writes the model and its tokenizer, with EOS alone ending a generation. */
  static void save(Loaded m, Path dir) throws IOException {
    save(m, dir, null);
  }

  /**
   * Writes the model (config.json, safetensors), its tokenizer files (tokenizer.json,
   * tokenizer_config.json) and generation_config.json into a directory: a Hugging Face model
   * directory whose {@code generate} stops where ours does.
   *
   * @param template the prompt template it was trained with: its end-of-turn token (when the
   *     tokenizer has it) ends a generation beside EOS; null for EOS alone
   */
  static void save(Loaded m, Path dir, PromptTemplate template) throws IOException {
    m.model().save(dir);
    Tokenizers.save(m.tokenizer(), m.tokenizerSource(), dir);
    generationConfig(m, template).writeTo(dir);
  }

  /** The model's BOS and pad ids; its EOS ids and the template's end-of-turn id. */
  static GenerationConfig generationConfig(Loaded m, PromptTemplate template) {
    Gemma2Config c = m.model().config();
    List<Integer> eos = new ArrayList<>(c.eosTokenIds());
    if (template != null && !template.endOfTurn().isEmpty()) {
      m.tokenizer().specialId(template.endOfTurn()).ifPresent(eos::add);
    }
    return new GenerationConfig(c.bosTokenId(), eos, c.padTokenId());
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
