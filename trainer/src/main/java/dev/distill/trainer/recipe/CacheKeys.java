package dev.distill.trainer.recipe;

import dev.distill.spec.DatasetSpec;
import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import dev.distill.spec.TeacherPassSettings;
import dev.distill.trainer.cache.CacheKey;
import dev.distill.trainer.checkpoint.CheckpointManager;
import dev.distill.trainer.tokenize.ByteTokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import tools.jackson.databind.SerializationFeature;
import tools.jackson.databind.json.JsonMapper;

/**
 * The parts of a {@link CacheKey}: what names a teacher's weights, a tokenizer and a dataset's
 * content. Used by the teacher pass to name its cache and by a cached distill job to check that its
 * student and data are the ones the cache was written for.
 */
final class CacheKeys {

  private static final JsonMapper CANONICAL =
      JsonMapper.builder().enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS).build();

  private CacheKeys() {}

  /**
   * The key of a teacher_pass job: of the teacher, only its tokenizer and the files that name its
   * weights are read, so a seal computes it without loading the teacher.
   */
  static CacheKey of(JobSpec spec, Models.TokenizerOf teacher, Path teacherDir, DatasetSpec data) {
    TeacherPassSettings s = spec.teacherPass();
    return new CacheKey(
        teacherHash(spec.teacher(), teacherDir, spec.hyperparameters().seed() + 1),
        tokenizerId(teacher),
        teacher.tokenizer().vocabSize(),
        data.template(),
        datasetHash(data),
        split(data),
        s.topK(),
        s.massBound(),
        s.encoding());
  }

  /**
   * SHA-256 naming the weights: a checkpoint of ours by its manifest (which holds every file's
   * digest), another model directory by its config and weight files' bytes, a builtin preset by its
   * name, overrides and initialisation seed.
   */
  static String teacherHash(ModelRef ref, Path dir, long seed) {
    if (ref.isBuiltin()) {
      Map<String, Object> parts = new LinkedHashMap<>();
      parts.put("uri", ref.uri());
      parts.put("config", new TreeMap<>(ref.config()));
      parts.put("seed", seed);
      return CacheKey.hashOf(CANONICAL.writeValueAsString(parts));
    }
    Path manifest = dir.resolve(CheckpointManager.MANIFEST);
    if (Files.isRegularFile(manifest)) {
      return CheckpointManager.sha256(manifest);
    }
    try (Stream<Path> files = Files.list(dir)) {
      List<Path> weights =
          files
              .filter(
                  p -> {
                    String n = p.getFileName().toString();
                    return n.equals("config.json") || n.endsWith(".safetensors");
                  })
              .sorted()
              .toList();
      StringBuilder all = new StringBuilder();
      for (Path p : weights) {
        all.append(p.getFileName()).append('=').append(CheckpointManager.sha256(p)).append('\n');
      }
      return CacheKey.hashOf(all.toString());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot hash the teacher's files in " + dir, e);
    }
  }

  /** {@code byte}, or the SHA-256 of the {@code tokenizer.json} a model was loaded with. */
  static String tokenizerId(Models.Loaded m) {
    return tokenizerId(new Models.TokenizerOf(m.tokenizer(), m.tokenizerSource()));
  }

  /** The same for a tokenizer found without its model. */
  static String tokenizerId(Models.TokenizerOf t) {
    if (t.tokenizer() instanceof ByteTokenizer || t.source() == null) {
      return "byte";
    }
    Path src = t.source();
    Path file = Files.isDirectory(src) ? src.resolve("tokenizer.json") : src;
    return "sha256:" + CheckpointManager.sha256(file);
  }

  /** The content: a file's bytes; a builtin generator's name, size and seed. */
  static String datasetHash(DatasetSpec data) {
    if (data.uri().startsWith(ModelRef.FILE)) {
      return CheckpointManager.sha256(Path.of(data.uri().substring(ModelRef.FILE.length())));
    }
    return CacheKey.hashOf(
        data.uri() + "|num_examples=" + data.numExamples() + "|seed=" + data.seed());
  }

  /** What turns the content into the training split's sequences. */
  static Map<String, Object> split(DatasetSpec d) {
    Map<String, Object> m = new TreeMap<>();
    m.put("format", d.format());
    m.put("max_seq_len", d.maxSeqLen());
    m.put("validation_fraction", d.validationFraction());
    m.put("seed", d.seed());
    m.put("mask_prompt", d.maskPrompt());
    m.put("packing", d.packing());
    m.put("num_examples", d.numExamples());
    return m;
  }
}
