package dev.distill.trainer.recipe;

import dev.distill.spec.DatasetSpec;
import dev.distill.spec.GenerationSpec;
import dev.distill.spec.JobSpec;
import dev.distill.trainer.checkpoint.Checkpoint;
import dev.distill.trainer.checkpoint.CheckpointManager;
import dev.distill.trainer.checkpoint.TrainerState;
import dev.distill.trainer.data.Example;
import dev.distill.trainer.data.Message;
import dev.distill.trainer.data.PromptTemplate;
import dev.distill.trainer.recipe.SynthesisRecipe.Counts;
import dev.distill.trainer.recipe.SynthesisRecipe.Gen;
import dev.distill.trainer.recipe.SynthesisRecipe.Samples;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.ToIntFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * Instruction pre-training (Cheng et al. 2024), {@code generation.mode: corpus}: the job's raw
 * {@code text} dataset (plain UTF-8, or JSONL of {@code {"text": ...}} when the file name ends in
 * {@code .jsonl}) is cut into chunks of at most {@code generation.chunk_tokens} tokens (whole
 * words, counted with the teacher's tokenizer; by words for an endpoint), and the teacher is asked,
 * per chunk, for {@code generation.pairs_per_chunk} question-answer pairs answerable from it
 * ({@link #prompt}). Its answer is parsed into {@code Question:}/{@code Answer:} pairs; an answer
 * with none is logged and counted as {@code dropped_unparseable}, never fatal.
 *
 * <p>Each kept chunk becomes one row of {@value SynthesisRecipe#DATA_FILE}: {@code {"text": chunk +
 * "\n\n" + pairs rendered, "source": {"chunk", "record", "start_byte", "end_byte"}, "pairs":
 * [{"question", "answer"}]}}, readable with {@code format: text} (and in {@code dataset.mix}).
 * Chunk {@code i} is asked with the seed of {@link SynthesisRecipe#sampleSeed}{@code (seed, i, 1)};
 * progress goes to the same resumable log as the other modes.
 */
final class Corpus {

  static final String METHOD = "corpus";

  static final String DROPPED_UNPARSEABLE = "dropped_unparseable";

  private static final ObjectMapper JSON = JsonMapper.builder().build();

  private static final Pattern PAIR =
      Pattern.compile(
          "(?im)^\\s*(?:\\d+[.)]\\s*)?(?:question|q)\\s*\\d*\\s*[:.]\\s*(.+?)\\s*\\n\\s*(?:answer|a)\\s*\\d*\\s*[:.]\\s*(.+?)\\s*$");

  /** One document of the corpus: the whole plain file, or one JSONL record's {@code text}. */
  record Doc(int record, String text) {}

  /** A chunk of a document, with its UTF-8 byte range in that document. */
  record Chunk(int index, int record, long startByte, long endByte, String text) {}

  /** One parsed pair. */
  record Pair(String question, String answer) {}

  private Corpus() {}

  /** The corpus documents, in file order. */
  static List<Doc> read(JobSpec spec, RunContext ctx) {
    DatasetSpec data = DatasetRefs.resolve(spec.dataset(), ctx);
    String uri = data.uri();
    Path file = Path.of(uri.startsWith("file:") ? uri.substring("file:".length()) : uri);
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("dataset " + spec.dataset().uri() + ": file not found");
    }
    List<Doc> out = new ArrayList<>();
    try {
      if (file.getFileName().toString().endsWith(".jsonl")) {
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
          String line;
          int n = 0;
          while ((line = r.readLine()) != null) {
            n++;
            if (line.isBlank()) {
              continue;
            }
            JsonNode t = JSON.readTree(line).get("text");
            if (t == null || !t.isString()) {
              throw new IllegalArgumentException(
                  "dataset " + spec.dataset().uri() + ": line " + n + " has no string field text");
            }
            out.add(new Doc(n - 1, t.asString()));
          }
        }
      } else {
        out.add(new Doc(0, Files.readString(file, StandardCharsets.UTF_8)));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    if (out.stream().allMatch(d -> d.text().isBlank())) {
      throw new IllegalArgumentException("dataset " + spec.dataset().uri() + ": no text to chunk");
    }
    return out;
  }

  /**
   * Cuts the documents into chunks of whole words, each of at most {@code maxTokens} tokens by
   * {@code tokens} (a word longer than that is a chunk alone), the first {@code limit} chunks.
   */
  static List<Chunk> chunk(List<Doc> docs, int maxTokens, ToIntFunction<String> tokens, int limit) {
    List<Chunk> out = new ArrayList<>();
    Pattern word = Pattern.compile("\\S+");
    for (Doc d : docs) {
      String text = d.text();
      Matcher m = word.matcher(text);
      int start = -1;
      int end = -1;
      int used = 0;
      long bytesBefore = 0; // UTF-8 bytes of text[0, prevEnd)
      int prevEnd = 0;
      while (true) {
        boolean found = m.find();
        int cost = found ? Math.max(1, tokens.applyAsInt(m.group())) : 0;
        if (start >= 0 && (!found || used + cost > maxTokens)) {
          long startByte = bytesBefore + utf8(text, prevEnd, start);
          long endByte = startByte + utf8(text, start, end);
          out.add(
              new Chunk(out.size(), d.record(), startByte, endByte, text.substring(start, end)));
          if (out.size() >= limit) {
            return out;
          }
          bytesBefore = endByte;
          prevEnd = end;
          start = -1;
          used = 0;
        }
        if (!found) {
          break;
        }
        if (start < 0) {
          start = m.start();
        }
        end = m.end();
        used += cost;
      }
    }
    return out;
  }

  private static long utf8(String s, int from, int to) {
    return s.substring(from, to).getBytes(StandardCharsets.UTF_8).length;
  }

  /** The instruction-synthesizer prompt for one chunk (the user turn of the dataset template). */
  static String prompt(String chunk, int pairs) {
    return "Read the text below, then write "
        + pairs
        + " question-answer pairs that can be answered from the text alone. Quote each answer from"
        + " the text where you can. Write each pair as two lines:\n"
        + "Question: <question>\n"
        + "Answer: <answer>\n\n"
        + "Text:\n"
        + chunk;
  }

  /** The {@code Question:}/{@code Answer:} pairs of a teacher's answer, in order; may be empty. */
  static List<Pair> parse(String output) {
    List<Pair> out = new ArrayList<>();
    Matcher m = PAIR.matcher(output.replace("\r\n", "\n"));
    while (m.find()) {
      String q = m.group(1).strip();
      String a = m.group(2).strip();
      if (!q.isEmpty() && !a.isEmpty()) {
        out.add(new Pair(q, a));
      }
    }
    return out;
  }

  /** The augmented text of a chunk: the chunk, a blank line, its pairs. */
  static String render(String chunk, List<Pair> pairs) {
    StringBuilder sb = new StringBuilder(chunk);
    for (Pair p : pairs) {
      sb.append("\n\nQuestion: ").append(p.question()).append("\nAnswer: ").append(p.answer());
    }
    return sb.toString();
  }

  /** Asks for the pairs of every chunk, {@code concurrency} at a time, resumably. */
  static RunResult run(
      JobSpec spec,
      RunContext ctx,
      PromptTemplate template,
      List<Chunk> chunks,
      Samples samples,
      String about) {
    GenerationSpec gen = spec.generation();
    int total = chunks.size();
    int pairsWanted = gen.pairsPerChunkOrDefault();
    Counts counts = new Counts();
    List<List<Pair>> pairs = new ArrayList<>();
    for (int i = 0; i < total; i++) {
      pairs.add(null);
    }
    Path logFile = ctx.progressDir().resolve(SynthesisRecipe.PROGRESS_FILE);
    ExecutorService pool =
        samples.concurrency() > 1 ? Executors.newFixedThreadPool(samples.concurrency()) : null;
    try (ProgressLog log = ProgressLog.open(logFile, SpecHash.of(spec))) {
      for (JsonNode e : log.done()) {
        replay(e, counts, pairs);
      }
      if (counts.attempted > 0) {
        ctx.listener()
            .onEvent(
                "resumed",
                "synthesize resumes after "
                    + counts.attempted
                    + " of "
                    + total
                    + " chunks ("
                    + counts.written
                    + " with pairs) from "
                    + logFile);
      } else {
        ctx.listener().onEvent("started", about);
      }
      int batch = Math.max(1, samples.concurrency());
      for (int next = counts.attempted; next < total; next += batch) {
        int first = next;
        Optional<StopSignal.Reason> stop = ctx.stop().check();
        if (stop.isPresent()) {
          ctx.listener()
              .onEvent(
                  stop.get().eventType(), "stopped after " + first + " of " + total + " chunks");
          return RunResult.synthesized(RunResult.Outcome.of(stop.get()), 0, null, counts.asMap());
        }
        int n = Math.min(batch, total - first);
        List<Gen> answers =
            SynthesisRecipe.run(
                pool,
                n,
                k ->
                    samples.answer(
                        first + k,
                        new Example.Chat(
                            List.of(
                                Message.user(prompt(chunks.get(first + k).text(), pairsWanted))),
                            "")));
        List<Map<String, Object>> entries = new ArrayList<>();
        for (int k = 0; k < n; k++) {
          Gen a = answers.get(k);
          String output = a.text().strip();
          Map<String, Object> entry = new LinkedHashMap<>();
          entry.put("i", first + k);
          List<Pair> parsed = parse(output);
          if (a.status() == Gen.Status.NO_ROOM) {
            entry.put("outcome", SynthesisRecipe.DROPPED_TOO_LONG);
          } else if (output.isEmpty()) {
            entry.put("outcome", SynthesisRecipe.DROPPED_EMPTY_RESPONSE);
          } else if (parsed.isEmpty()) {
            entry.put("outcome", DROPPED_UNPARSEABLE);
            entry.put("output", output); // kept in the log, for a look at what the teacher wrote
          } else {
            entry.put(
                "outcome",
                a.status() == Gen.Status.TRUNCATED
                    ? SynthesisRecipe.WRITTEN_TRUNCATED
                    : SynthesisRecipe.WRITTEN);
            List<Map<String, String>> ps = new ArrayList<>();
            for (Pair p : parsed) {
              ps.add(pair(p));
            }
            entry.put("pairs", ps);
          }
          entry.put("tokens", a.tokens());
          entries.add(entry);
        }
        log.append(entries);
        for (Map<String, Object> entry : entries) {
          replay(JSON.valueToTree(entry), counts, pairs);
          if (counts.attempted % SynthesisRecipe.PROGRESS_EVERY == 0 || counts.attempted == total) {
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
      ctx.listener()
          .onEvent(
              "warning",
              String.format(
                  "dropped %d of %d chunks: %d with no room for an answer, %d empty answers, %d"
                      + " answers with no Question:/Answer: pair",
                  counts.dropped(),
                  counts.attempted,
                  counts.droppedTooLong,
                  counts.droppedEmptyResponse,
                  counts.droppedUnparseable));
    }
    if (counts.written == 0) {
      throw new IllegalStateException(
          String.format(
              "synthesize kept 0 of %d chunks (%d with no room for an answer in the teacher's"
                  + " context, %d empty answers, %d answers with no Question:/Answer: pair)",
              counts.attempted,
              counts.droppedTooLong,
              counts.droppedEmptyResponse,
              counts.droppedUnparseable));
    }
    Checkpoint out = save(spec, ctx, template, chunks, pairs, counts);
    ctx.listener().onCheckpoint(out, true);
    ctx.listener()
        .onEvent(
            "finished",
            "wrote "
                + counts.written
                + " instruction-augmented chunks to "
                + out.dir().resolve(SynthesisRecipe.DATA_FILE)
                + " ("
                + counts.dropped()
                + " dropped)");
    return RunResult.synthesized(RunResult.Outcome.COMPLETED, counts.written, out, counts.asMap());
  }

  private static Map<String, String> pair(Pair p) {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("question", p.question());
    m.put("answer", p.answer());
    return m;
  }

  private static void replay(JsonNode e, Counts counts, List<List<Pair>> pairs) {
    counts.attempted++;
    counts.generatedTokens += e.get("tokens").asLong();
    String outcome = e.get("outcome").asString();
    switch (outcome) {
      case SynthesisRecipe.WRITTEN, SynthesisRecipe.WRITTEN_TRUNCATED -> {
        List<Pair> ps = new ArrayList<>();
        for (JsonNode p : e.get("pairs")) {
          ps.add(new Pair(p.get("question").asString(), p.get("answer").asString()));
        }
        pairs.set(e.get("i").asInt(), ps);
        counts.written++;
        if (outcome.equals(SynthesisRecipe.WRITTEN_TRUNCATED)) {
          counts.truncatedResponses++;
        }
      }
      case SynthesisRecipe.DROPPED_TOO_LONG -> counts.droppedTooLong++;
      case SynthesisRecipe.DROPPED_EMPTY_RESPONSE -> counts.droppedEmptyResponse++;
      case DROPPED_UNPARSEABLE -> counts.droppedUnparseable++;
      default -> throw new IllegalStateException("progress log: unknown outcome " + e);
    }
  }

  /** One output row: the augmented text, where the chunk came from, and its pairs. */
  static Map<String, Object> row(Chunk c, List<Pair> ps) {
    Map<String, Object> line = new LinkedHashMap<>();
    line.put("text", render(c.text(), ps));
    Map<String, Object> source = new LinkedHashMap<>();
    source.put("chunk", c.index());
    source.put("record", c.record());
    source.put("start_byte", c.startByte());
    source.put("end_byte", c.endByte());
    line.put("source", source);
    List<Map<String, String>> list = new ArrayList<>();
    for (Pair p : ps) {
      list.add(pair(p));
    }
    line.put("pairs", list);
    return line;
  }

  private static Checkpoint save(
      JobSpec spec,
      RunContext ctx,
      PromptTemplate template,
      List<Chunk> chunks,
      List<List<Pair>> pairs,
      Counts counts) {
    GenerationSpec gen = spec.generation();
    Map<String, Object> manifest = new LinkedHashMap<>();
    manifest.put("method", METHOD);
    manifest.put("model", spec.teacher().uri());
    if (spec.teacher().model() != null) {
      manifest.put("endpoint_model", spec.teacher().model());
    }
    manifest.put("dataset", spec.dataset().uri());
    manifest.put("chunks", chunks.size());
    manifest.put("chunked_by", spec.teacher().isEndpoint() ? "words" : "the teacher's tokenizer");
    manifest.put("template", template.id());
    manifest.put("format", "text");
    manifest.put("data_file", SynthesisRecipe.DATA_FILE);
    Map<String, Object> settings = new LinkedHashMap<>();
    settings.put("num_samples", gen.numSamples());
    settings.put("chunk_tokens", gen.chunkTokensOrDefault());
    settings.put("pairs_per_chunk", gen.pairsPerChunkOrDefault());
    settings.put("max_new_tokens", gen.maxNewTokens());
    settings.put("temperature", gen.temperature());
    settings.put("top_p", gen.topP());
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
                  Files.newBufferedWriter(
                      dir.resolve(SynthesisRecipe.DATA_FILE), StandardCharsets.UTF_8)) {
                for (int i = 0; i < chunks.size(); i++) {
                  if (pairs.get(i) != null) {
                    w.write(JSON.writeValueAsString(row(chunks.get(i), pairs.get(i))));
                    w.write('\n');
                  }
                }
              }
              JSON.writerWithDefaultPrettyPrinter()
                  .writeValue(dir.resolve(SynthesisRecipe.MANIFEST_FILE).toFile(), manifest);
            });
  }
}
