package dev.distill.trainer.recipe;

import dev.distill.spec.DatasetSpec;
import dev.distill.spec.GenerationSpec;
import dev.distill.spec.JobSpec;
import dev.distill.trainer.data.Example;
import dev.distill.trainer.data.Message;
import dev.distill.trainer.data.PromptTemplate;
import dev.distill.trainer.recipe.SynthesisRecipe.Counts;
import dev.distill.trainer.recipe.SynthesisRecipe.Samples;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
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

  /**
   * Reads the corpus through once (streamed) and checks it: the file exists, every JSONL line has a
   * string {@code text}, and some text is not blank.
   *
   * @return the corpus file
   */
  static Path check(JobSpec spec, RunContext ctx) {
    DatasetSpec data = DatasetRefs.resolve(spec.dataset(), ctx);
    String uri = data.uri();
    Path file = Path.of(uri.startsWith("file:") ? uri.substring("file:".length()) : uri);
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("dataset " + spec.dataset().uri() + ": file not found");
    }
    try (Chunker c = Chunker.of(file, spec.dataset().uri(), 1024, w -> 1)) {
      if (c.next() == null) {
        throw new IllegalArgumentException(
            "dataset " + spec.dataset().uri() + ": no text to chunk");
      }
      while (c.next() != null) {
        // every line is checked
      }
    }
    return file;
  }

  /**
   * Cuts the documents into chunks of whole words, each of at most {@code maxTokens} tokens by
   * {@code tokens} (a word longer than that is a chunk alone), the first {@code limit} chunks.
   */
  static List<Chunk> chunk(List<Doc> docs, int maxTokens, ToIntFunction<String> tokens, int limit) {
    List<Chunk> out = new ArrayList<>();
    java.util.Iterator<Doc> it = docs.iterator();
    try (Chunker c =
        new Chunker(
            () -> it.hasNext() ? it.next() : null,
            d -> new StringReader(d.text()),
            maxTokens,
            tokens)) {
      for (Chunk ch = c.next(); ch != null && out.size() < limit; ch = c.next()) {
        out.add(ch);
      }
    }
    return out;
  }

  /**
   * Chunks pulled one at a time from a corpus read as a stream: a plain file is read through a
   * fixed buffer, a JSONL file one line (document) at a time. What it holds is the chunk being
   * built (at most {@code maxTokens} tokens of words and the whitespace between them), the word
   * being read and, for JSONL, the current line; {@link #peakHeld} says the most characters it held
   * at once. Byte offsets count UTF-8 bytes from the start of the document.
   */
  static final class Chunker implements SynthesisRecipe.Items<Chunk> {

    /** Documents one at a time; null after the last. */
    interface Docs {
      Doc next() throws IOException;
    }

    private final Docs docs;
    private final java.util.function.Function<Doc, Reader> open;
    private final AutoCloseable onClose;
    private final int maxTokens;
    private final ToIntFunction<String> tokens;
    private final char[] buf = new char[4096];
    private final StringBuilder chunk = new StringBuilder();
    private final StringBuilder gap = new StringBuilder();
    private final StringBuilder word = new StringBuilder();
    private final java.util.ArrayDeque<Chunk> ready = new java.util.ArrayDeque<>();
    private Reader reader;
    private int record;
    private int docChars;
    private int pos;
    private int lim;
    private long byteAt;
    private long wordStart;
    private long chunkStart;
    private long chunkEnd;
    private int used;
    private int index;
    private int peakHeld;

    Chunker(
        Docs docs,
        java.util.function.Function<Doc, Reader> open,
        int maxTokens,
        ToIntFunction<String> tokens) {
      this(docs, open, null, maxTokens, tokens);
    }

    private Chunker(
        Docs docs,
        java.util.function.Function<Doc, Reader> open,
        AutoCloseable onClose,
        int maxTokens,
        ToIntFunction<String> tokens) {
      this.docs = docs;
      this.open = open;
      this.onClose = onClose;
      this.maxTokens = maxTokens;
      this.tokens = tokens;
    }

    /**
     * The chunks of a corpus file: plain UTF-8 (one document, record 0), or JSONL of {@code
     * {"text": ...}} when its name ends in {@code .jsonl} (a document a line, the record its
     * 0-based line number).
     */
    static Chunker of(Path file, String uri, int maxTokens, ToIntFunction<String> tokens) {
      try {
        BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8);
        if (!file.getFileName().toString().endsWith(".jsonl")) {
          boolean[] given = {false};
          return new Chunker(
              () -> {
                if (given[0]) {
                  return null;
                }
                given[0] = true;
                return new Doc(0, null);
              },
              d -> r,
              r,
              maxTokens,
              tokens);
        }
        int[] line = {0};
        return new Chunker(
            () -> {
              String l;
              while ((l = r.readLine()) != null) {
                line[0]++;
                if (l.isBlank()) {
                  continue;
                }
                JsonNode t = JSON.readTree(l).get("text");
                if (t == null || !t.isString()) {
                  throw new IllegalArgumentException(
                      "dataset " + uri + ": line " + line[0] + " has no string field text");
                }
                return new Doc(line[0] - 1, t.asString());
              }
              return null;
            },
            d -> new StringReader(d.text()),
            r,
            maxTokens,
            tokens);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    /** The most characters held at once so far (chunk, whitespace, word, JSONL line). */
    int peakHeld() {
      return peakHeld;
    }

    @Override
    public Chunk next() {
      try {
        while (ready.isEmpty()) {
          if (reader == null) {
            Doc d = docs.next();
            if (d == null) {
              return null;
            }
            reader = open.apply(d);
            record = d.record();
            docChars = d.text() == null ? 0 : d.text().length();
            byteAt = 0;
            pos = 0;
            lim = 0;
          }
          int c = read();
          if (c >= 0 && !whitespace((char) c)) {
            if (word.isEmpty()) {
              wordStart = byteAt;
            }
            word.append((char) c);
            byteAt += utf8((char) c);
            held();
            continue;
          }
          if (!word.isEmpty()) {
            String w = word.toString();
            word.setLength(0);
            int cost = Math.max(1, tokens.applyAsInt(w));
            if (!chunk.isEmpty() && used + cost > maxTokens) {
              emit();
            }
            if (chunk.isEmpty()) {
              chunkStart = wordStart;
              used = 0;
            } else {
              chunk.append(gap);
            }
            gap.setLength(0);
            chunk.append(w);
            used += cost;
            chunkEnd = byteAt;
          }
          if (c >= 0) {
            if (!chunk.isEmpty()) {
              gap.append((char) c);
              held();
            }
            byteAt += utf8((char) c);
          } else {
            if (!chunk.isEmpty()) {
              emit();
            }
            gap.setLength(0);
            reader = null;
          }
        }
        return ready.poll();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    private void emit() {
      ready.add(new Chunk(index++, record, chunkStart, chunkEnd, chunk.toString()));
      chunk.setLength(0);
      gap.setLength(0);
    }

    private int read() throws IOException {
      if (pos == lim) {
        lim = reader.read(buf, 0, buf.length);
        pos = 0;
        if (lim <= 0) {
          lim = 0;
          return -1;
        }
      }
      return buf[pos++];
    }

    private void held() {
      peakHeld = Math.max(peakHeld, chunk.length() + gap.length() + word.length() + docChars);
    }

    /** Java's {@code \\s}: the separators of {@code \\S+} words. */
    private static boolean whitespace(char c) {
      return c == ' ' || c == '\t' || c == '\n' || c == 0x0B || c == '\f' || c == '\r';
    }

    /** UTF-8 bytes of a char: a surrogate pair is 4, counted at its high half. */
    private static int utf8(char c) {
      if (c < 0x80) {
        return 1;
      }
      if (c < 0x800) {
        return 2;
      }
      if (Character.isHighSurrogate(c)) {
        return 4;
      }
      return Character.isLowSurrogate(c) ? 0 : 3;
    }

    @Override
    public void close() {
      if (onClose != null) {
        try {
          onClose.close();
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      }
    }
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

  /**
   * The unit of {@link SynthesisRecipe#loop}: chunk {@code i} of the corpus (chunked by {@code
   * tokens}, counted in {@code unitWord}) asked for its pairs. The chunks are counted in one pass
   * (at most {@code num_samples}), then streamed again for the run and for the output.
   */
  static SynthesisRecipe.Unit<Chunk> unit(
      JobSpec spec,
      RunContext ctx,
      PromptTemplate template,
      Path file,
      ToIntFunction<String> tokens,
      String unitWord,
      String who) {
    GenerationSpec gen = spec.generation();
    int maxTokens = gen.chunkTokensOrDefault();
    int pairsWanted = gen.pairsPerChunkOrDefault();
    String uri = spec.dataset().uri();
    int counted = 0;
    try (Chunker c = Chunker.of(file, uri, maxTokens, tokens)) {
      while (counted < gen.numSamples() && c.next() != null) {
        counted++;
      }
    }
    int total = counted;
    return new SynthesisRecipe.Unit<>("chunks", "with pairs", total) {
      @Override
      SynthesisRecipe.Items<Chunk> items() {
        return Chunker.of(file, uri, maxTokens, tokens);
      }

      @Override
      String about() {
        return String.format(
            "synthesize corpus: %d chunks of %s (at most %d %s each) given to %s for %d pairs"
                + " each, template %s, seed %d",
            total,
            uri,
            maxTokens,
            unitWord,
            who,
            pairsWanted,
            template.id(),
            spec.hyperparameters().seed());
      }

      @Override
      Example.Chat prompt(Chunk item) {
        return new Example.Chat(List.of(Message.user(Corpus.prompt(item.text(), pairsWanted))), "");
      }

      @Override
      List<Map<String, Object>> attempt(
          int first, List<Chunk> items, Samples samples, ExecutorService pool) {
        List<Map<String, Object>> entries = super.attempt(first, items, samples, pool);
        for (int k = 0; k < entries.size(); k++) {
          // every chunk's provenance is logged, whatever became of it
          entries.get(k).put("source", source(items.get(k)));
        }
        return entries;
      }

      @Override
      void answered(Chunk item, String output, boolean truncated, Map<String, Object> entry) {
        List<Pair> parsed = parse(output);
        if (parsed.isEmpty()) {
          entry.put("outcome", SynthesisRecipe.DROPPED_UNPARSEABLE);
          entry.put("output", output); // kept in the log, for a look at what the teacher wrote
          return;
        }
        entry.put(
            "outcome", truncated ? SynthesisRecipe.WRITTEN_TRUNCATED : SynthesisRecipe.WRITTEN);
        List<Map<String, String>> ps = new ArrayList<>();
        for (Pair p : parsed) {
          ps.add(pair(p));
        }
        entry.put("pairs", ps);
      }

      @Override
      Map<String, Object> row(Chunk item, JsonNode entry) {
        List<Pair> ps = new ArrayList<>();
        for (JsonNode p : entry.get("pairs")) {
          ps.add(new Pair(p.get("question").asString(), p.get("answer").asString()));
        }
        return Corpus.row(item, ps);
      }

      @Override
      String dropped(Counts counts) {
        return String.format(
            "dropped %d of %d chunks: %d with no room for an answer, %d empty answers, %d"
                + " answers with no Question:/Answer: pair",
            counts.dropped(),
            counts.attempted,
            counts.droppedTooLong,
            counts.droppedEmptyResponse,
            counts.droppedUnparseable);
      }

      @Override
      String noneKept(Counts counts) {
        return String.format(
            "synthesize kept 0 of %d chunks (%d with no room for an answer in the teacher's"
                + " context, %d empty answers, %d answers with no Question:/Answer: pair)",
            counts.attempted,
            counts.droppedTooLong,
            counts.droppedEmptyResponse,
            counts.droppedUnparseable);
      }

      @Override
      String rowsWord() {
        return "instruction-augmented chunks";
      }

      @Override
      Map<String, Object> manifest(Counts counts) {
        Map<String, Object> manifest = new LinkedHashMap<>();
        manifest.put("method", METHOD);
        manifest.put("model", spec.teacher().uri());
        if (spec.teacher().model() != null) {
          manifest.put("endpoint_model", spec.teacher().model());
        }
        manifest.put("dataset", uri);
        manifest.put("chunks", total);
        manifest.put(
            "chunked_by", spec.teacher().isEndpoint() ? "words" : "the teacher's tokenizer");
        manifest.put("template", template.id());
        manifest.put("format", "augmented");
        manifest.put("data_file", SynthesisRecipe.DATA_FILE);
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("num_samples", gen.numSamples());
        settings.put("chunk_tokens", maxTokens);
        settings.put("pairs_per_chunk", pairsWanted);
        settings.put("max_new_tokens", gen.maxNewTokens());
        settings.put("temperature", gen.temperature());
        settings.put("top_p", gen.topP());
        manifest.put("settings", settings);
        manifest.put("seed", spec.hyperparameters().seed());
        manifest.put("counts", counts.asLongs());
        return manifest;
      }
    };
  }

  private static Map<String, String> pair(Pair p) {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("question", p.question());
    m.put("answer", p.answer());
    return m;
  }

  /** One output row: the augmented text, where the chunk came from, and its pairs. */
  static Map<String, Object> row(Chunk c, List<Pair> ps) {
    Map<String, Object> line = new LinkedHashMap<>();
    line.put("text", render(c.text(), ps));
    line.put("source", source(c));
    List<Map<String, String>> list = new ArrayList<>();
    for (Pair p : ps) {
      list.add(pair(p));
    }
    line.put("pairs", list);
    return line;
  }

  /** Where a chunk came from: its index, record and UTF-8 byte range in that record. */
  static Map<String, Object> source(Chunk c) {
    Map<String, Object> source = new LinkedHashMap<>();
    source.put("chunk", c.index());
    source.put("record", c.record());
    source.put("start_byte", c.startByte());
    source.put("end_byte", c.endByte());
    return source;
  }
}
