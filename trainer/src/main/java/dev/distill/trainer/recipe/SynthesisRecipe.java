package dev.distill.trainer.recipe;

import ai.djl.ndarray.NDManager;
import dev.distill.spec.GenerationSpec;
import dev.distill.spec.JobSpec;
import dev.distill.spec.JobType;
import dev.distill.trainer.checkpoint.Checkpoint;
import dev.distill.trainer.checkpoint.CheckpointManager;
import dev.distill.trainer.checkpoint.TrainerState;
import dev.distill.trainer.data.PreQueryTemplates;
import dev.distill.trainer.data.PromptTemplate;
import dev.distill.trainer.generate.Generation;
import dev.distill.trainer.generate.GenerationOptions;
import dev.distill.trainer.generate.Generator;
import dev.distill.trainer.model.Precision;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.tokenize.Tokenizer;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * The recipe of {@code synthesize} jobs: Magpie (Xu et al. 2024). The teacher, given only its chat
 * template up to the user turn (the pre-query template), writes an instruction; then, given that
 * instruction in the full template up to its own turn, it writes the response. Empty, too long (no
 * end-of-turn marker within the bound) and duplicate instructions are dropped and counted; a run
 * that keeps none fails with the counts. A custom pre-query text ({@code generation.pre_query})
 * replaces the template's for the instruction; {@code generation.stop_strings} end both.
 *
 * <p>The output is a directory registered as the job's final checkpoint: {@value #DATA_FILE}
 * (Alpaca JSONL: {@code instruction}, {@code input} "", {@code output}) and {@value #MANIFEST_FILE}
 * (model, template, settings, seed, counts). A later spec reads it with {@code "dataset": {"uri":
 * "job:<id>", "format": "alpaca"}}. Sample {@code i} draws from seeds derived from the job seed and
 * {@code i} only, so a run is deterministic and a restart writes the same file.
 */
public final class SynthesisRecipe {

  /** The Alpaca JSONL in the output directory. */
  public static final String DATA_FILE = "data.jsonl";

  /** The manifest of a synthesis (model, template, settings, seed, counts). */
  public static final String MANIFEST_FILE = "synthesis.json";

  /** Progress is reported after this many samples. */
  static final int PROGRESS_EVERY = 10;

  private static final ObjectMapper JSON = JsonMapper.builder().build();

  /** What became of the samples; every attempted sample is counted exactly once. */
  static final class Counts {
    int attempted;
    int written;
    int droppedEmpty;
    int droppedTooLong;
    int droppedDuplicate;
    int droppedEmptyResponse;
    int truncatedResponses;
    long generatedTokens;

    int dropped() {
      return droppedEmpty + droppedTooLong + droppedDuplicate + droppedEmptyResponse;
    }

    Map<String, Double> asMap() {
      Map<String, Double> m = new LinkedHashMap<>();
      m.put("samples_attempted", (double) attempted);
      m.put("samples_written", (double) written);
      m.put("dropped_empty", (double) droppedEmpty);
      m.put("dropped_too_long", (double) droppedTooLong);
      m.put("dropped_duplicate", (double) droppedDuplicate);
      m.put("dropped_empty_response", (double) droppedEmptyResponse);
      m.put("truncated_responses", (double) truncatedResponses);
      m.put("generated_tokens", (double) generatedTokens);
      return m;
    }
  }

  /** One synthesized example. */
  record Row(String instruction, String output) {}

  private SynthesisRecipe() {}

  public static RunResult run(JobSpec spec, RunContext ctx) {
    if (spec.type() != JobType.SYNTHESIZE) {
      throw new IllegalArgumentException(
          "the synthesis recipe runs synthesize jobs, not " + spec.type().json());
    }
    GenerationSpec gen = spec.generation();
    long seed = spec.hyperparameters().seed();
    PromptTemplate template =
        PreQueryTemplates.of(
            gen.preQueryTemplate(),
            spec.dataset() == null
                ? PromptTemplate.GEMMA
                : PromptTemplate.of(spec.dataset().template()));
    Precision precision = Precision.resolve(spec.hyperparameters().precision(), Models.device(ctx));
    // frozen: a bf16/fp16 checkpoint stays in its dtype
    try (NDManager manager = NDManager.newBaseManager(Models.device(ctx));
        Models.Loaded teacher =
            Models.resolve(spec.teacher(), ctx, manager, seed, null, precision, true)) {
      teacher.model().requireGradients(false);
      Tokenizer tok = teacher.tokenizer();
      Gemma2Model model = teacher.model();
      int context = model.config().maxPositionEmbeddings();
      // a custom pre-query text (Magpie's model_configs.json) is used verbatim
      String preQuery = preQuery(gen, template, tok);
      int[] preQueryIds = tok.encode(preQuery);
      // the instruction must leave room for the response: at most half the context after the
      // pre-query, and never more than max_new_tokens
      int instructionMax = Math.min(gen.maxNewTokens(), (context - preQueryIds.length) / 2);
      if (instructionMax < 1) {
        throw new IllegalArgumentException(
            "teacher "
                + spec.teacher().uri()
                + ": its context of "
                + context
                + " positions leaves no room for an instruction after the pre-query template");
      }
      Set<Integer> stopIds = tok.endOfTurnIds(PromptTemplate.endOfTurnMarkers());
      List<String> stopStrings = new ArrayList<>(template.stopStrings(tok.eosToken()));
      stopStrings.addAll(gen.stopStrings());
      ctx.listener()
          .onEvent(
              "started",
              String.format(
                  "synthesize: %d samples from %s (%,d parameters), pre-query template %s,"
                      + " temperature %s, top_p %s, seed %d",
                  gen.numSamples(),
                  spec.teacher().uri(),
                  model.config().parameterCount(),
                  template.id(),
                  gen.temperature(),
                  gen.topP(),
                  seed));
      Counts counts = new Counts();
      List<Row> rows = new ArrayList<>();
      Set<String> seen = new HashSet<>();
      for (int i = 0; i < gen.numSamples(); i++) {
        Optional<StopSignal.Reason> stop = ctx.stop().check();
        if (stop.isPresent()) {
          // nothing is saved: a restart regenerates the same samples from the seed
          ctx.listener()
              .onEvent(
                  stop.get().eventType(),
                  "stopped after " + i + " of " + gen.numSamples() + " samples");
          return RunResult.synthesized(RunResult.Outcome.of(stop.get()), 0, null, counts.asMap());
        }
        counts.attempted++;
        try (NDManager sampleManager = manager.newSubManager()) {
          Generator generator = new Generator(model, sampleManager, context);
          // 1. the instruction, from the pre-query template alone
          Generation q =
              generator.generate(
                  toList(preQueryIds),
                  options(gen, instructionMax, sampleSeed(seed, i, 0), stopIds, stopStrings),
                  ids -> decode(tok, ids));
          counts.generatedTokens += q.tokens().size();
          String instruction = q.text().strip();
          if (q.stopReason() == Generation.StopReason.MAX_TOKENS
              || q.stopReason() == Generation.StopReason.CONTEXT_FULL) {
            counts.droppedTooLong++;
            continue;
          }
          if (instruction.isEmpty()) {
            counts.droppedEmpty++;
            continue;
          }
          if (!seen.add(instruction)) {
            counts.droppedDuplicate++;
            continue;
          }
          // 2. the response, from the full template up to the model's turn
          int[] promptIds = tok.encode(template.generationPrompt(instruction, tok.bosToken()));
          int responseMax = Math.min(gen.maxNewTokens(), context - 1 - promptIds.length);
          if (responseMax < 1) {
            counts.droppedTooLong++;
            continue;
          }
          Generation a =
              generator.generate(
                  toList(promptIds),
                  options(gen, responseMax, sampleSeed(seed, i, 1), stopIds, stopStrings),
                  ids -> decode(tok, ids));
          counts.generatedTokens += a.tokens().size();
          String output = a.text().strip();
          if (output.isEmpty()) {
            counts.droppedEmptyResponse++;
            continue;
          }
          if (a.stopReason() == Generation.StopReason.MAX_TOKENS
              || a.stopReason() == Generation.StopReason.CONTEXT_FULL) {
            counts.truncatedResponses++;
          }
          rows.add(new Row(instruction, output));
          counts.written++;
        } finally {
          if (counts.attempted % PROGRESS_EVERY == 0 || counts.attempted == gen.numSamples()) {
            ctx.listener().onProgress(counts.attempted, counts.asMap());
          }
        }
      }
      if (counts.dropped() > 0) {
        ctx.listener()
            .onEvent(
                "warning",
                String.format(
                    "dropped %d of %d samples: %d empty, %d too long, %d duplicate instructions,"
                        + " %d empty responses",
                    counts.dropped(),
                    counts.attempted,
                    counts.droppedEmpty,
                    counts.droppedTooLong,
                    counts.droppedDuplicate,
                    counts.droppedEmptyResponse));
      }
      if (counts.written == 0) {
        // deterministic from the seed: another attempt would keep nothing either
        throw new IllegalStateException(
            String.format(
                "synthesize kept 0 of %d samples (%d empty, %d too long, %d duplicate"
                    + " instructions, %d empty responses): the teacher must continue its chat"
                    + " template's user turn and end it with the end-of-turn token (a chat-template"
                    + " model, or one trained with mask_prompt false; see docs/spec.md, Magpie)",
                counts.attempted,
                counts.droppedEmpty,
                counts.droppedTooLong,
                counts.droppedDuplicate,
                counts.droppedEmptyResponse));
      }
      Checkpoint out = save(spec, ctx, template, preQuery, rows, counts);
      ctx.listener().onCheckpoint(out, true);
      ctx.listener()
          .onEvent(
              "finished",
              "wrote "
                  + counts.written
                  + " examples to "
                  + out.dir().resolve(DATA_FILE)
                  + " ("
                  + counts.dropped()
                  + " dropped)");
      return RunResult.synthesized(
          RunResult.Outcome.COMPLETED, counts.written, out, counts.asMap());
    }
  }

  /** The custom pre-query text of the spec, else the template's with the tokenizer's BOS. */
  static String preQuery(GenerationSpec gen, PromptTemplate template, Tokenizer tok) {
    return gen.preQuery() != null ? gen.preQuery() : template.preQuery(tok.bosToken());
  }

  /** The seed of one generation: phase 0 writes the instruction, phase 1 the response. */
  static long sampleSeed(long seed, int sample, int phase) {
    long h = seed * 0x9E3779B97F4A7C15L + sample * 0xC2B2AE3D27D4EB4FL + phase;
    h ^= h >>> 33;
    h *= 0xFF51AFD7ED558CCDL;
    return h ^ (h >>> 33);
  }

  private static GenerationOptions options(
      GenerationSpec gen, int maxTokens, long seed, Set<Integer> stopIds, List<String> stops) {
    return new GenerationOptions(maxTokens, gen.temperature(), gen.topP(), seed, stopIds, stops);
  }

  private static List<Integer> toList(int[] ids) {
    List<Integer> out = new ArrayList<>(ids.length);
    for (int id : ids) {
      out.add(id);
    }
    return out;
  }

  private static String decode(Tokenizer tok, List<Integer> ids) {
    return tok.decode(ids.stream().mapToInt(Integer::intValue).toArray());
  }

  /**
   * Writes {@value #DATA_FILE} and {@value #MANIFEST_FILE} as a verified checkpoint directory (step
   * = examples written), which the worker registers as the job's final output.
   */
  private static Checkpoint save(
      JobSpec spec,
      RunContext ctx,
      PromptTemplate template,
      String preQuery,
      List<Row> rows,
      Counts counts) {
    GenerationSpec gen = spec.generation();
    Map<String, Object> manifest = new LinkedHashMap<>();
    manifest.put("method", "magpie");
    manifest.put("model", spec.teacher().uri());
    manifest.put("pre_query_template", template.id());
    manifest.put("pre_query", preQuery);
    manifest.put("format", "alpaca");
    manifest.put("data_file", DATA_FILE);
    Map<String, Object> settings = new LinkedHashMap<>();
    settings.put("num_samples", gen.numSamples());
    settings.put("max_new_tokens", gen.maxNewTokens());
    settings.put("temperature", gen.temperature());
    settings.put("top_p", gen.topP());
    if (!gen.stopStrings().isEmpty()) {
      settings.put("stop_strings", gen.stopStrings());
    }
    manifest.put("settings", settings);
    manifest.put("seed", spec.hyperparameters().seed());
    Map<String, Object> countMap = new LinkedHashMap<>();
    counts.asMap().forEach((k, v) -> countMap.put(k, v.longValue()));
    manifest.put("counts", countMap);
    TrainerState state =
        new TrainerState(
            TrainerState.FORMAT_VERSION,
            counts.written,
            0,
            counts.attempted,
            spec.hyperparameters().seed(),
            counts.generatedTokens,
            SpecHash.of(spec),
            counts.asMap());
    return new CheckpointManager(ctx.checkpointDir(), 1)
        .save(
            state,
            dir -> {
              try (BufferedWriter w =
                  Files.newBufferedWriter(dir.resolve(DATA_FILE), StandardCharsets.UTF_8)) {
                for (Row r : rows) {
                  Map<String, String> line = new LinkedHashMap<>();
                  line.put("instruction", r.instruction());
                  line.put("input", "");
                  line.put("output", r.output());
                  w.write(JSON.writeValueAsString(line));
                  w.write('\n');
                }
              }
              JSON.writerWithDefaultPrettyPrinter()
                  .writeValue(dir.resolve(MANIFEST_FILE).toFile(), manifest);
            });
  }
}
