package dev.distill.trainer.recipe;

import ai.djl.ndarray.NDManager;
import dev.distill.spec.LoraSpec;
import dev.distill.spec.ModelRef;
import dev.distill.spec.plan.Precision;
import dev.distill.trainer.data.PromptTemplate;
import dev.distill.trainer.generate.GenerationConfig;
import dev.distill.trainer.loss.KdLossConfig;
import dev.distill.trainer.model.gemma2.Gemma2Config;
import dev.distill.trainer.model.gemma2.Gemma2Lora;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.tokenize.ByteTokenizer;
import dev.distill.trainer.tokenize.Tokenizer;
import dev.distill.trainer.tokenize.Tokenizers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
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
   * @param modelDir the directory the weights came from, or null for a builtin model
   */
  record Loaded(Gemma2Model model, Tokenizer tokenizer, Path tokenizerSource, Path modelDir)
      implements AutoCloseable {
    @Override
    public void close() {
      model.close();
    }
  }

  /**
   * A model's tokenizer, without its weights.
   *
   * @param source the directory or file it came from, or null for the byte tokenizer
   */
  record TokenizerOf(Tokenizer tokenizer, Path source) {}

  private Models() {}

  /** How a resolved model holds its weights. */
  enum Weights {
    /** Trained: fp32 parameters (pure bf16: bf16 bits updated in the backward pass). */
    TRAINED,
    /** A teacher or an evaluated model: {@link Gemma2Model#loadFrozen}. */
    FROZEN,
    /**
     * A LoRA student's base: {@link Gemma2Model#loadFrozenBase} (fp32 in fp32, bf16 bits in the
     * 2-byte precisions), a builtin one {@link Gemma2Model#initFrozenBase}.
     */
    LORA_BASE
  }

  /**
   * The tokenizer {@link #resolve} gives {@code ref} when no donor is named, found without loading
   * or initialising any weights: what a teacher pass's seal needs of its teacher (the cache's key
   * and the tokenizer's copy).
   */
  static TokenizerOf tokenizerOf(ModelRef ref, RunContext ctx) {
    if (ref.isBuiltin()) {
      return builtinTokenizer(ref);
    }
    Path dir = modelDir(ref, ctx);
    if (!Files.isDirectory(dir)) {
      throw new IllegalArgumentException(dir + ": not a model directory");
    }
    return tokenizerOf(dir, ref.tokenizer());
  }

  /** A builtin model's tokenizer when it names one, else the byte tokenizer. */
  private static TokenizerOf builtinTokenizer(ModelRef ref) {
    if (ref.tokenizer() == null) {
      return new TokenizerOf(ByteTokenizer.instance(), null);
    }
    return new TokenizerOf(
        Tokenizers.load(ref.tokenizer()),
        ref.tokenizer().equals(dev.distill.spec.Catalog.BYTE_TOKENIZER)
            ? null
            : Path.of(ref.tokenizer().substring(ModelRef.FILE.length())));
  }

  /**
   * A model directory's tokenizer: {@code tokenizerRef} when given, else the {@code tokenizer.json}
   * of the directory or of an adapter's base, else the byte tokenizer.
   */
  static TokenizerOf tokenizerOf(Path dir, String tokenizerRef) {
    if (tokenizerRef != null) {
      return new TokenizerOf(
          Tokenizers.load(tokenizerRef),
          tokenizerRef.equals(dev.distill.spec.Catalog.BYTE_TOKENIZER)
              ? null
              : Path.of(tokenizerRef.substring(ModelRef.FILE.length())));
    }
    Path base = isAdapter(dir) ? Gemma2Lora.baseOf(dir) : dir;
    Path tokenizerDir = Files.isRegularFile(dir.resolve("tokenizer.json")) ? dir : base;
    if (Files.isRegularFile(tokenizerDir.resolve("tokenizer.json"))) {
      return new TokenizerOf(Tokenizers.load(tokenizerDir), tokenizerDir);
    }
    return new TokenizerOf(ByteTokenizer.instance(), null);
  }

  /** The directory of a {@code job:} or {@code file:} model. */
  private static Path modelDir(ModelRef ref, RunContext ctx) {
    if (ref.isJob()) {
      Path dir = ctx.artifacts().get(ref.target());
      if (dir == null) {
        throw new IllegalArgumentException(
            "model " + ref.uri() + ": no output of that job was handed to this run");
      }
      return dir;
    }
    return Path.of(ref.target());
  }

  /**
   * The run's device ({@link RunContext#device}); without one the GPU when the engine sees one,
   * else the CPU: the same code runs on both.
   */
  static ai.djl.Device device(RunContext ctx) {
    return dev.distill.trainer.model.Devices.parse(ctx.device());
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
        ref,
        ctx,
        manager,
        seed,
        tokenizerDonor == null ? null : tokenizerDonor.tokenizerSource(),
        Precision.FP32,
        Weights.TRAINED);
  }

  /**
   * {@link #resolve(ModelRef, RunContext, NDManager, long, Loaded)} computing in a precision, with
   * the donor's tokenizer given by where it lives (a directory with {@code tokenizer.json}, or null
   * for none), its weights held as {@code weights} says (a builtin model is initialised in fp32
   * unless it is a 2-byte LoRA base).
   */
  static Loaded resolve(
      ModelRef ref,
      RunContext ctx,
      NDManager manager,
      long seed,
      Path donorTokenizer,
      Precision precision,
      Weights weights) {
    if (ref.isBuiltin()) {
      String name = ref.target();
      if (!Gemma2Config.PRESETS.contains(name)) {
        throw new IllegalArgumentException(
            "unknown builtin model '" + name + "', expected one of " + Gemma2Config.PRESETS);
      }
      TokenizerOf t =
          ref.tokenizer() == null && donorTokenizer != null
              ? new TokenizerOf(Tokenizers.load(donorTokenizer), donorTokenizer)
              : builtinTokenizer(ref);
      Tokenizer tokenizer = t.tokenizer();
      Path source = t.source();
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
      Gemma2Model model =
          weights == Weights.LORA_BASE
              ? Gemma2Model.initFrozenBase(config, manager, seed, precision)
              : Gemma2Model.init(config, manager, seed, precision);
      return new Loaded(model, tokenizer, source, null);
    }
    return load(modelDir(ref, ctx), ref.tokenizer(), manager, precision, weights);
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

  /**
   * A Hugging Face model directory (a checkpoint of ours or a downloaded model), or a PEFT adapter
   * directory ({@code adapter_config.json}): its base, from {@code base_model_name_or_path}, with
   * the adapters attached. An adapter directory without a tokenizer takes its base's.
   */
  static Loaded load(Path dir, String tokenizerRef, NDManager manager) {
    return load(dir, tokenizerRef, manager, Precision.FP32, Weights.TRAINED);
  }

  /** {@link #load(Path, String, NDManager)} in a precision, its weights held as said. */
  static Loaded load(
      Path dir, String tokenizerRef, NDManager manager, Precision precision, Weights weights) {
    if (!Files.isDirectory(dir)) {
      throw new IllegalArgumentException(dir + ": not a model directory");
    }
    Path base = isAdapter(dir) ? Gemma2Lora.baseOf(dir) : dir;
    TokenizerOf t = tokenizerOf(dir, tokenizerRef);
    Tokenizer tokenizer = t.tokenizer();
    Path source = t.source();
    if (!Files.isDirectory(base)) {
      throw new IllegalArgumentException(
          dir + ": the base model " + base + " of the adapter is not a directory");
    }
    Gemma2Model model =
        switch (weights) {
          case FROZEN -> Gemma2Model.loadFrozen(base, manager, precision);
          case LORA_BASE -> Gemma2Model.loadFrozenBase(base, manager, precision);
          case TRAINED -> Gemma2Model.load(base, manager, precision);
        };
    if (base != dir) {
      try {
        model.attach(Gemma2Lora.load(dir, model.config(), manager));
      } catch (RuntimeException e) {
        model.close();
        throw e;
      }
    }
    return new Loaded(model, tokenizer, source, dir);
  }

  /** Whether a directory holds a PEFT adapter rather than a full model. */
  static boolean isAdapter(Path dir) {
    return Files.isRegularFile(dir.resolve(Gemma2Lora.CONFIG_FILE));
  }

  /**
   * Puts fresh adapters on a student (a run with {@code hyperparameters.lora}); the base is frozen
   * from then on. The adapter names its base by directory: a full model directory the student was
   * loaded from is named as it is; a builtin model, or one that came with adapters of its own
   * (merged first), is written once to {@code baseDir} (before the first checkpoint, so a resume
   * finds it).
   *
   * @param baseDir where a base that is not on disk yet is written
   */
  static void addAdapters(
      Loaded student,
      LoraSpec lora,
      Path baseDir,
      PromptTemplate template,
      long seed,
      NDManager manager)
      throws IOException {
    Path base = student.modelDir();
    if (base == null || student.model().adapters() != null) {
      student.model().mergeAdapters();
      Path tmp = baseDir.resolveSibling("." + baseDir.getFileName() + ".tmp");
      deleteTree(tmp);
      save(student, tmp, template);
      deleteTree(baseDir);
      Files.move(tmp, baseDir, StandardCopyOption.ATOMIC_MOVE);
      base = baseDir;
    }
    Gemma2Config config = student.model().config();
    student
        .model()
        .attach(
            Gemma2Lora.init(
                config, lora, base.toAbsolutePath().normalize().toString(), manager, seed));
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (var paths = Files.walk(dir)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  /** Writes the model and its tokenizer, with EOS alone ending a generation. */
  static void save(Loaded m, Path dir) throws IOException {
    save(m, dir, null);
  }

  /**
   * Writes the model (config.json, safetensors; or, with adapters, the PEFT adapter files), its
   * tokenizer files (tokenizer.json, tokenizer_config.json) and generation_config.json into a
   * directory: a Hugging Face model directory whose {@code generate} stops where ours does.
   *
   * @param template the prompt template it was trained with: its end-of-turn token (when the
   *     tokenizer has it) ends a generation beside EOS; null for EOS alone
   */
  static void save(Loaded m, Path dir, PromptTemplate template) throws IOException {
    if (m.model().adapters() != null) {
      m.model().adapters().save(dir); // the adapter alone: its base is named inside
    } else {
      m.model().save(dir);
    }
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
