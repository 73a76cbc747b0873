package dev.distill.trainer.recipe;

import ai.djl.ndarray.NDManager;
import dev.distill.spec.GenerationSpec;
import dev.distill.spec.JobSpec;
import dev.distill.spec.JobType;
import dev.distill.spec.plan.Precision;
import dev.distill.trainer.checkpoint.Checkpoint;
import dev.distill.trainer.checkpoint.CheckpointManager;
import dev.distill.trainer.checkpoint.TrainerState;
import dev.distill.trainer.data.Example;
import dev.distill.trainer.data.Message;
import dev.distill.trainer.data.PreQueryTemplates;
import dev.distill.trainer.data.PromptTemplate;
import dev.distill.trainer.generate.Generation;
import dev.distill.trainer.generate.GenerationOptions;
import dev.distill.trainer.generate.Generator;
import dev.distill.trainer.model.Devices;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.text.TextAnswer;
import dev.distill.trainer.text.TextModel;
import dev.distill.trainer.text.TextRequest;
import dev.distill.trainer.tokenize.Tokenizer;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * The recipe of {@code synthesize} jobs: Magpie (Xu et al. 2024), or with {@code generation.mode:
 * responses} sequence-level distillation, the teacher answering a dataset's instructions ({@link
 * Responses}, sharing the samples, seeds and progress log of this class). In Magpie the teacher,
 * given only its chat template up to the user turn (the pre-query template), writes an instruction;
 * then, given that instruction in the full template up to its own turn, it writes the response.
 * Empty, too long (no end-of-turn marker within the bound) and duplicate instructions are dropped
 * and counted; a run that keeps none fails with the counts. A custom pre-query text ({@code
 * generation.pre_query}) replaces the template's for the instruction; {@code
 * generation.stop_strings} end both.
 *
 * <p>The output is a directory registered as the job's final checkpoint: {@value #DATA_FILE}
 * (Alpaca JSONL: {@code instruction}, {@code input} "", {@code output}) and {@value #MANIFEST_FILE}
 * (model, template, settings, seed, counts). A later spec reads it with {@code "dataset": {"uri":
 * "job:<id>", "format": "alpaca"}}. Sample {@code i} draws from seeds derived from the job seed and
 * {@code i} only, so a run is deterministic and a restart writes the same file.
 *
 * <p>The teacher is one of our models, generating in process, or an {@code openai:} endpoint (vLLM,
 * Ollama, {@code distill serve}), sent the pre-query as a raw completion ({@code /v1/completions},
 * stopping at the template's end-of-turn marker), as Magpie's authors did with vLLM; up to the
 * reference's {@code concurrency} samples are in flight at once. Every sample's outcome goes to a
 * progress log ({@value #PROGRESS_FILE} under {@link RunContext#progressDir()}) before the next
 * batch starts, so an attempt that is stopped or killed midway is resumed by the next from where it
 * was, without asking for a logged sample again.
 */
public final class SynthesisRecipe {

  /** The Alpaca JSONL in the output directory. */
  public static final String DATA_FILE = "data.jsonl";

  /** The manifest of a synthesis (model, template, settings, seed, counts). */
  public static final String MANIFEST_FILE = "synthesis.json";

  /** The progress log of a synthesis under {@link RunContext#progressDir()}. */
  static final String PROGRESS_FILE = "synthesis.jsonl";

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
    int droppedUnparseable;
    long generatedTokens;

    int dropped() {
      return droppedEmpty
          + droppedTooLong
          + droppedDuplicate
          + droppedEmptyResponse
          + droppedUnparseable;
    }

    Map<String, Object> asLongs() {
      Map<String, Object> m = new LinkedHashMap<>();
      asMap().forEach((k, v) -> m.put(k, v.longValue()));
      return m;
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
      if (droppedUnparseable > 0) {
        m.put("dropped_unparseable", (double) droppedUnparseable);
      }
      return m;
    }
  }

  /**
   * One record of a responses-mode dataset: the conversation up to the turn the teacher writes, and
   * the record as read, whose fields are kept in the output.
   */
  record Source(int index, Example.Chat prompt, JsonNode record) {}

  private SynthesisRecipe() {}

  public static RunResult run(JobSpec spec, RunContext ctx) {
    if (spec.type() != JobType.SYNTHESIZE) {
      throw new IllegalArgumentException(
          "the synthesis recipe runs synthesize jobs, not " + spec.type().json());
    }
    GenerationSpec gen = spec.generation();
    long seed = spec.hyperparameters().seed();
    boolean responses = gen.responses() || gen.corpus();
    boolean corpus = gen.corpus();
    // the inputs are read through (streamed) and checked before the teacher is loaded
    int records = responses && !corpus ? Responses.count(spec, ctx) : 0;
    Path corpusFile = corpus ? Corpus.check(spec, ctx) : null;
    PromptTemplate template =
        responses
            ? PromptTemplate.of(spec.dataset().template())
            : PreQueryTemplates.of(
                gen.preQueryTemplate(),
                spec.dataset() == null
                    ? PromptTemplate.GEMMA
                    : PromptTemplate.of(spec.dataset().template()));
    if (spec.teacher().isEndpoint()) {
      try (TextModel teacher = ctx.endpoints().connect(spec.teacher())) {
        // the family's BOS string is written out, as in Magpie's model_configs.json (distill serve
        // adds nothing to a raw prompt); generation.pre_query is sent verbatim
        String bos = familyBos(template);
        String preQuery = gen.preQuery() != null ? gen.preQuery() : template.preQuery(bos);
        List<String> stops = new ArrayList<>(template.stopStrings(""));
        stops.addAll(gen.stopStrings());
        EndpointSamples endpoint =
            new EndpointSamples(teacher, template, bos, gen, preQuery, stops, seed);
        String who =
            String.format(
                "endpoint %s (model %s, %d requests at once)",
                spec.teacher().uri(), spec.teacher().model(), teacher.concurrency());
        // no tokenizer at hand: a whitespace-separated word counts as one token
        Unit<?> unit =
            corpus
                ? Corpus.unit(spec, ctx, template, corpusFile, w -> 1, "words", who)
                : responses
                    ? Responses.unit(spec, ctx, template, records, who)
                    : new Magpie(spec, template, preQuery, who);
        return loop(spec, ctx, unit, endpoint);
      }
    }
    Precision precision =
        Precision.resolve(spec.hyperparameters().precision(), Devices.kind(Models.device(ctx)));
    // frozen: a bf16/fp16 checkpoint stays in its dtype
    try (NDManager manager = NDManager.newBaseManager(Models.device(ctx));
        Models.Loaded teacher =
            Models.resolve(
                spec.teacher(), ctx, manager, seed, null, precision, Models.Weights.FROZEN)) {
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
      if (instructionMax < 1 && !responses) {
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
      String who =
          String.format(
              "%s (%,d parameters)", spec.teacher().uri(), model.config().parameterCount());
      Samples local =
          new Samples() {
            @Override
            public int concurrency() {
              return 1;
            }

            @Override
            public Gen instruction(int i) {
              try (NDManager m = manager.newSubManager()) {
                Generation q =
                    new Generator(model, m, context)
                        .generate(
                            toList(preQueryIds),
                            options(
                                gen, instructionMax, sampleSeed(seed, i, 0), stopIds, stopStrings),
                            ids -> decode(tok, ids));
                return Gen.of(q);
              }
            }

            @Override
            public Gen answer(int i, Example.Chat prompt) {
              int[] promptIds = tok.encode(template.generationPrompt(prompt, tok.bosToken()));
              int responseMax = Math.min(gen.maxNewTokens(), context - 1 - promptIds.length);
              if (responseMax < 1) {
                return new Gen("", Gen.Status.NO_ROOM, 0);
              }
              try (NDManager m = manager.newSubManager()) {
                Generation a =
                    new Generator(model, m, context)
                        .generate(
                            toList(promptIds),
                            options(gen, responseMax, sampleSeed(seed, i, 1), stopIds, stopStrings),
                            ids -> decode(tok, ids));
                return Gen.of(a);
              }
            }
          };
      Unit<?> unit =
          corpus
              ? Corpus.unit(
                  spec, ctx, template, corpusFile, w -> tok.encode(" " + w).length, "tokens", who)
              : responses
                  ? Responses.unit(spec, ctx, template, records, who)
                  : new Magpie(spec, template, preQuery, who);
      return loop(spec, ctx, unit, local);
    }
  }

  /**
   * The BOS string of a template family's official tokenizer, which an endpoint's raw prompt spells
   * out (Magpie's {@code model_configs.json}: {@code <bos>}, {@code <|begin_of_text|>}, {@code
   * <s>}; ChatML has none).
   */
  static String familyBos(PromptTemplate template) {
    return switch (template) {
      case GEMMA -> "<bos>";
      case LLAMA3 -> "<|begin_of_text|>";
      case PHI3 -> "<s>";
      case CHATML, ALPACA -> "";
    };
  }

  /** One generation: its text and how it ended. */
  record Gen(String text, Status status, long tokens) {
    enum Status {
      /** At the end-of-turn marker, a stop string or EOS. */
      ENDED,
      /** At the token bound or the end of the context. */
      TRUNCATED,
      /** Not generated: the prompt leaves no room. */
      NO_ROOM
    }

    static Gen of(Generation g) {
      boolean cut =
          g.stopReason() == Generation.StopReason.MAX_TOKENS
              || g.stopReason() == Generation.StopReason.CONTEXT_FULL;
      return new Gen(g.text(), cut ? Status.TRUNCATED : Status.ENDED, g.tokens().size());
    }
  }

  /** Where the samples come from: the teacher in process, or an endpoint. */
  interface Samples {
    /** How many samples are generated at once. */
    int concurrency();

    /** Phase 1: the instruction of sample {@code i}, from the pre-query alone. */
    Gen instruction(int i);

    /** Phase 2: the response to it, from the full template up to the model's turn. */
    default Gen response(int i, String instruction) {
      return answer(i, new Example.Chat(List.of(Message.user(instruction)), ""));
    }

    /**
     * The teacher's next turn after a conversation that ends with a user turn, drawn from the seed
     * of phase 1 of sample {@code i} (Magpie's response, or the answer to record {@code i}).
     */
    Gen answer(int i, Example.Chat prompt);
  }

  /** Magpie against an OpenAI-compatible endpoint: both phases are raw completions. */
  private record EndpointSamples(
      TextModel teacher,
      PromptTemplate template,
      String bos,
      GenerationSpec gen,
      String preQuery,
      List<String> stops,
      long seed)
      implements Samples {
    @Override
    public int concurrency() {
      return teacher.concurrency();
    }

    @Override
    public Gen instruction(int i) {
      return of(
          teacher.complete(
              new TextRequest(
                  preQuery,
                  gen.maxNewTokens(),
                  gen.temperature(),
                  gen.topP(),
                  sampleSeed(seed, i, 0) & Long.MAX_VALUE,
                  stops,
                  "sample " + i + " instruction")));
    }

    @Override
    public Gen answer(int i, Example.Chat prompt) {
      return of(
          teacher.complete(
              new TextRequest(
                  template.generationPrompt(prompt, bos),
                  gen.maxNewTokens(),
                  gen.temperature(),
                  gen.topP(),
                  sampleSeed(seed, i, 1) & Long.MAX_VALUE,
                  stops,
                  "sample " + i + " response")));
    }

    private static Gen of(TextAnswer a) {
      return new Gen(a.text(), a.truncated() ? Gen.Status.TRUNCATED : Gen.Status.ENDED, a.tokens());
    }
  }

  /** Items pulled one at a time, in order; {@link #next} is null after the last. */
  interface Items<I> extends AutoCloseable {
    I next();

    @Override
    void close();
  }

  /**
   * One mode of synthesis (Magpie, {@link Responses}, {@link Corpus}) as {@link #loop} runs it: its
   * work items, streamed in order; the prompt the teacher answers for one; the log entry of an
   * answer; what a logged entry adds to the mode's state; the output row of a written entry; and
   * the mode's words for its events, errors and manifest.
   */
  abstract static class Unit<I> {
    private final String noun;
    private final String writtenWord;
    private final int total;

    /**
     * @param noun what an item is called in events: samples, instructions, chunks
     * @param writtenWord what the written items are called in the resume event: written, answered,
     *     with pairs
     * @param total how many items the run attempts (the first of {@link #items})
     */
    Unit(String noun, String writtenWord, int total) {
      this.noun = noun;
      this.writtenWord = writtenWord;
      this.total = total;
    }

    final String noun() {
      return noun;
    }

    final String writtenWord() {
      return writtenWord;
    }

    final int total() {
      return total;
    }

    /** The items from the first, opened afresh on each call (the run, then the output). */
    abstract Items<I> items();

    /** The {@code started} event. */
    abstract String about();

    /** The user turn the teacher answers for an item (modes of one generation an item). */
    Example.Chat prompt(I item) {
      throw new UnsupportedOperationException(noun());
    }

    /**
     * The log entries of the items {@code first, first + 1, ...}, one each with {@code i}, {@code
     * outcome} and {@code tokens}: by default the teacher's answer to {@link #prompt} of each, at
     * once on the pool, classified by {@link #answered}.
     */
    List<Map<String, Object>> attempt(
        int first, List<I> items, Samples samples, ExecutorService pool) {
      List<Gen> answers =
          SynthesisRecipe.run(
              pool, items.size(), k -> samples.answer(first + k, prompt(items.get(k))));
      List<Map<String, Object>> entries = new ArrayList<>();
      for (int k = 0; k < items.size(); k++) {
        Gen a = answers.get(k);
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("i", first + k);
        String output = a.text().strip();
        if (a.status() == Gen.Status.NO_ROOM) {
          entry.put("outcome", DROPPED_TOO_LONG);
        } else if (output.isEmpty()) {
          entry.put("outcome", DROPPED_EMPTY_RESPONSE);
        } else {
          answered(items.get(k), output, a.status() == Gen.Status.TRUNCATED, entry);
        }
        entry.put("tokens", a.tokens());
        entries.add(entry);
      }
      return entries;
    }

    /** The outcome (and fields) of a non-empty answer: by default written, with its output. */
    void answered(I item, String output, boolean truncated, Map<String, Object> entry) {
      entry.put("outcome", truncated ? WRITTEN_TRUNCATED : WRITTEN);
      entry.put("output", output);
    }

    /** What a logged entry (of an earlier attempt or of this one) adds to the mode's state. */
    void replay(JsonNode entry) {}

    /** The output row of a written entry, from its item. */
    abstract Map<String, Object> row(I item, JsonNode entry);

    /** The {@code warning} event when some were dropped. */
    abstract String dropped(Counts counts);

    /** The error when none was kept. */
    abstract String noneKept(Counts counts);

    /** What the output rows are called in the {@code finished} event. */
    abstract String rowsWord();

    /** The manifest ({@value #MANIFEST_FILE}) of the output. */
    abstract Map<String, Object> manifest(Counts counts);
  }

  /**
   * The loop of every mode and teacher: the items in order, {@code concurrency} at a time; each
   * batch goes to the progress log before the next starts, so that a later attempt resumes after
   * it, re-reading (not holding) the items done. The output is written at the end, the items
   * streamed once more beside the logged entries.
   */
  static <I> RunResult loop(JobSpec spec, RunContext ctx, Unit<I> unit, Samples samples) {
    int total = unit.total();
    Counts counts = new Counts();
    List<JsonNode> written = new ArrayList<>();
    Path logFile = ctx.progressDir().resolve(PROGRESS_FILE);
    ExecutorService pool =
        samples.concurrency() > 1 ? Executors.newFixedThreadPool(samples.concurrency()) : null;
    try (ProgressLog log = ProgressLog.open(logFile, SpecHash.of(spec));
        Items<I> items = unit.items()) {
      for (JsonNode e : log.done()) {
        replay(e, counts, written, unit);
      }
      if (counts.attempted > 0) {
        ctx.listener()
            .onEvent(
                "resumed",
                "synthesize resumes after "
                    + counts.attempted
                    + " of "
                    + total
                    + " "
                    + unit.noun()
                    + " ("
                    + counts.written
                    + " "
                    + unit.writtenWord()
                    + ") from "
                    + logFile);
      } else {
        ctx.listener().onEvent("started", unit.about());
      }
      for (int k = 0; k < counts.attempted; k++) {
        items.next(); // done: read past, not asked again
      }
      int batch = Math.max(1, samples.concurrency());
      for (int next = counts.attempted; next < total; next += batch) {
        int first = next;
        Optional<StopSignal.Reason> stop = ctx.stop().check();
        if (stop.isPresent()) {
          // what was done is in the progress log: the next attempt goes on from there
          ctx.listener()
              .onEvent(
                  stop.get().eventType(),
                  "stopped after " + first + " of " + total + " " + unit.noun());
          return RunResult.synthesized(RunResult.Outcome.of(stop.get()), 0, null, counts.asMap());
        }
        int n = Math.min(batch, total - first);
        List<I> taken = new ArrayList<>(n);
        for (int k = 0; k < n; k++) {
          I item = items.next();
          if (item == null) {
            throw new IllegalStateException(
                "the input ended after " + (first + k) + " of " + total + " " + unit.noun());
          }
          taken.add(item);
        }
        List<Map<String, Object>> entries = unit.attempt(first, taken, samples, pool);
        log.append(entries);
        for (Map<String, Object> entry : entries) {
          replay(JSON.valueToTree(entry), counts, written, unit);
          if (counts.attempted % PROGRESS_EVERY == 0 || counts.attempted == total) {
            ctx.listener().onProgress(counts.attempted, counts.asMap());
          }
        }
      }
    } finally {
      if (pool != null) {
        pool.shutdownNow();
      }
    }
    if (counts.dropped() > 0) {
      ctx.listener().onEvent("warning", unit.dropped(counts));
    }
    if (counts.written == 0) {
      // deterministic from the seed: another attempt would keep nothing either
      throw new IllegalStateException(unit.noneKept(counts));
    }
    Checkpoint out = save(spec, ctx, unit, written, counts);
    ctx.listener().onCheckpoint(out, true);
    ctx.listener()
        .onEvent(
            "finished",
            "wrote "
                + counts.written
                + " "
                + unit.rowsWord()
                + " to "
                + out.dir().resolve(DATA_FILE)
                + " ("
                + counts.dropped()
                + " dropped)");
    return RunResult.synthesized(RunResult.Outcome.COMPLETED, counts.written, out, counts.asMap());
  }

  static final String WRITTEN = "written";
  static final String WRITTEN_TRUNCATED = "written_truncated";
  static final String DROPPED_EMPTY = "dropped_empty";
  static final String DROPPED_TOO_LONG = "dropped_too_long";
  static final String DROPPED_DUPLICATE = "dropped_duplicate";
  static final String DROPPED_EMPTY_RESPONSE = "dropped_empty_response";
  static final String DROPPED_UNPARSEABLE = "dropped_unparseable";

  /** Counts one logged entry, keeps it when written, and hands it to the mode. */
  private static void replay(JsonNode e, Counts counts, List<JsonNode> written, Unit<?> unit) {
    counts.attempted++;
    counts.generatedTokens += e.get("tokens").asLong();
    String outcome = e.get("outcome").asString();
    switch (outcome) {
      case WRITTEN, WRITTEN_TRUNCATED -> {
        written.add(e);
        counts.written++;
        if (outcome.equals(WRITTEN_TRUNCATED)) {
          counts.truncatedResponses++;
        }
      }
      case DROPPED_EMPTY -> counts.droppedEmpty++;
      case DROPPED_TOO_LONG -> counts.droppedTooLong++;
      case DROPPED_DUPLICATE -> counts.droppedDuplicate++;
      case DROPPED_EMPTY_RESPONSE -> counts.droppedEmptyResponse++;
      case DROPPED_UNPARSEABLE -> counts.droppedUnparseable++;
      default -> throw new IllegalStateException("progress log: unknown outcome " + e);
    }
    unit.replay(e);
  }

  /**
   * Magpie: item {@code i} is sample {@code i}; its instruction from the pre-query alone, then the
   * response to it. Empty, too long and duplicate instructions are dropped, in sample order.
   */
  private static final class Magpie extends Unit<Integer> {
    private final JobSpec spec;
    private final GenerationSpec gen;
    private final PromptTemplate template;
    private final String preQuery;
    private final String who;
    private final Set<String> seen = new HashSet<>();

    Magpie(JobSpec spec, PromptTemplate template, String preQuery, String who) {
      super("samples", "written", spec.generation().numSamples());
      this.spec = spec;
      this.gen = spec.generation();
      this.template = template;
      this.preQuery = preQuery;
      this.who = who;
    }

    @Override
    Items<Integer> items() {
      return new Items<>() {
        int next;

        @Override
        public Integer next() {
          return next++;
        }

        @Override
        public void close() {}
      };
    }

    @Override
    String about() {
      return String.format(
          "synthesize: %d samples from %s, pre-query template %s, temperature %s, top_p %s,"
              + " seed %d",
          gen.numSamples(),
          who,
          template.id(),
          gen.temperature(),
          gen.topP(),
          spec.hyperparameters().seed());
    }

    @Override
    List<Map<String, Object>> attempt(
        int first, List<Integer> items, Samples samples, ExecutorService pool) {
      int n = items.size();
      List<Gen> instructions = SynthesisRecipe.run(pool, n, k -> samples.instruction(first + k));
      // in sample order, so that which duplicate is dropped does not depend on timing
      String[] kept = new String[n];
      String[] outcome = new String[n];
      for (int k = 0; k < n; k++) {
        Gen q = instructions.get(k);
        String instruction = q.text().strip();
        if (q.status() != Gen.Status.ENDED) {
          outcome[k] = DROPPED_TOO_LONG;
        } else if (instruction.isEmpty()) {
          outcome[k] = DROPPED_EMPTY;
        } else if (!seen.add(instruction)) {
          outcome[k] = DROPPED_DUPLICATE;
        } else {
          kept[k] = instruction;
        }
      }
      List<Gen> responses =
          SynthesisRecipe.run(
              pool, n, k -> kept[k] == null ? null : samples.response(first + k, kept[k]));
      List<Map<String, Object>> entries = new ArrayList<>();
      for (int k = 0; k < n; k++) {
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("i", first + k);
        Gen a = responses.get(k);
        long tokens = instructions.get(k).tokens() + (a == null ? 0 : a.tokens());
        if (kept[k] != null) {
          String output = a.text().strip();
          if (a.status() == Gen.Status.NO_ROOM) {
            outcome[k] = DROPPED_TOO_LONG;
          } else if (output.isEmpty()) {
            outcome[k] = DROPPED_EMPTY_RESPONSE;
          } else {
            outcome[k] = a.status() == Gen.Status.TRUNCATED ? WRITTEN_TRUNCATED : WRITTEN;
            entry.put("instruction", kept[k]);
            entry.put("output", output);
          }
        }
        entry.put("outcome", outcome[k]);
        entry.put("tokens", tokens);
        entries.add(entry);
      }
      return entries;
    }

    @Override
    void replay(JsonNode e) {
      if (e.has("instruction")) {
        seen.add(e.get("instruction").asString());
      }
    }

    @Override
    Map<String, Object> row(Integer item, JsonNode entry) {
      Map<String, Object> line = new LinkedHashMap<>();
      line.put("instruction", entry.get("instruction").asString());
      line.put("input", "");
      line.put("output", entry.get("output").asString());
      return line;
    }

    @Override
    String dropped(Counts counts) {
      return String.format(
          "dropped %d of %d samples: %d empty, %d too long, %d duplicate instructions,"
              + " %d empty responses",
          counts.dropped(),
          counts.attempted,
          counts.droppedEmpty,
          counts.droppedTooLong,
          counts.droppedDuplicate,
          counts.droppedEmptyResponse);
    }

    @Override
    String noneKept(Counts counts) {
      return String.format(
          "synthesize kept 0 of %d samples (%d empty, %d too long, %d duplicate"
              + " instructions, %d empty responses): the teacher must continue its chat"
              + " template's user turn and end it with the end-of-turn token (a chat-template"
              + " model, or one trained with mask_prompt false; see docs/spec.md, Magpie)",
          counts.attempted,
          counts.droppedEmpty,
          counts.droppedTooLong,
          counts.droppedDuplicate,
          counts.droppedEmptyResponse);
    }

    @Override
    String rowsWord() {
      return "examples";
    }

    @Override
    Map<String, Object> manifest(Counts counts) {
      Map<String, Object> manifest = new LinkedHashMap<>();
      manifest.put("method", "magpie");
      manifest.put("model", spec.teacher().uri());
      manifest.put("pre_query_template", template.id());
      manifest.put("pre_query", preQuery);
      manifest.put("format", "alpaca");
      manifest.put("data_file", DATA_FILE);
      manifest.put("settings", settings(gen));
      manifest.put("seed", spec.hyperparameters().seed());
      manifest.put("counts", counts.asLongs());
      return manifest;
    }
  }

  /** The sampling settings of a manifest. */
  static Map<String, Object> settings(GenerationSpec gen) {
    Map<String, Object> settings = new LinkedHashMap<>();
    settings.put("num_samples", gen.numSamples());
    settings.put("max_new_tokens", gen.maxNewTokens());
    settings.put("temperature", gen.temperature());
    settings.put("top_p", gen.topP());
    if (!gen.stopStrings().isEmpty()) {
      settings.put("stop_strings", gen.stopStrings());
    }
    return settings;
  }

  /** {@code task(0..n-1)} in order, at once on the pool when there is one. */
  static <T> List<T> run(ExecutorService pool, int n, java.util.function.IntFunction<T> task) {
    List<T> out = new ArrayList<>(n);
    if (pool == null) {
      for (int k = 0; k < n; k++) {
        out.add(task.apply(k));
      }
      return out;
    }
    List<Future<T>> futures = new ArrayList<>(n);
    for (int k = 0; k < n; k++) {
      int kk = k;
      futures.add(pool.submit(() -> task.apply(kk)));
    }
    for (Future<T> f : futures) {
      out.add(Parallel.await(f));
    }
    return out;
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

  static GenerationOptions options(
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
   * Writes {@value #DATA_FILE} (the written entries' rows, in item order, the items streamed once
   * more) and {@value #MANIFEST_FILE} as a verified checkpoint directory (step = rows written),
   * which the worker registers as the job's final output.
   */
  private static <I> Checkpoint save(
      JobSpec spec, RunContext ctx, Unit<I> unit, List<JsonNode> written, Counts counts) {
    Map<String, Object> manifest = unit.manifest(counts);
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
    List<JsonNode> inOrder = new ArrayList<>(written);
    inOrder.sort(java.util.Comparator.comparingInt(e -> e.get("i").asInt()));
    return new CheckpointManager(ctx.checkpointDir(), 1)
        .save(
            state,
            dir -> {
              try (BufferedWriter w =
                      Files.newBufferedWriter(dir.resolve(DATA_FILE), StandardCharsets.UTF_8);
                  Items<I> items = unit.items()) {
                int read = 0;
                I item = null;
                for (JsonNode e : inOrder) {
                  int i = e.get("i").asInt();
                  while (read <= i) {
                    item = items.next();
                    read++;
                  }
                  w.write(JSON.writeValueAsString(unit.row(item, e)));
                  w.write('\n');
                }
              }
              JSON.writerWithDefaultPrettyPrinter()
                  .writeValue(dir.resolve(MANIFEST_FILE).toFile(), manifest);
            });
  }
}
