package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distill.spec.DatasetSpec;
import dev.distill.spec.GenerationSpec;
import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.data.Example;
import dev.distill.trainer.data.ExampleReader;
import dev.distill.trainer.data.SharedDatasets;
import dev.distill.trainer.recipe.EndpointRecipesTest.Scripted;
import dev.distill.trainer.text.TextRequest;
import dev.distill.trainer.tokenize.Tokenizer;
import dev.distill.trainer.tokenize.TokenizerFixtures;
import dev.distill.trainer.tokenize.Tokenizers;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.ToIntFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code generation.mode: corpus} on the book's short story: a rule-based teacher (an endpoint
 * stand-in) quotes spans of the chunk it is shown, so grounding can be checked exactly.
 */
class CorpusSynthesisTest {

  private static final ObjectMapper JSON = JsonMapper.builder().build();

  @TempDir Path tmp;

  /** Quotes the chunk's first and last lines; chunk 2 gets prose with no pairs. */
  static String quotingRule(TextRequest r) {
    String p = r.prompt();
    assertThat(p).startsWith("<bos><start_of_turn>user\nRead the text below, then write 2 ");
    String chunk =
        p.substring(p.indexOf("Text:\n") + "Text:\n".length(), p.lastIndexOf("<end_of_turn>"));
    int i = Integer.parseInt(r.key().replaceAll("\\D", ""));
    if (i == 2) {
      return "Sorry, I would rather talk about something else.";
    }
    String[] lines = chunk.split("\n");
    String first = lines[0].strip();
    String last = lines[lines.length - 1].strip();
    return switch (i % 2) {
      case 0 ->
          "Question: How does the text begin?\nAnswer: "
              + first
              + "\n\nQuestion: How does it end?\nAnswer: "
              + last
              + "\n";
      default ->
          "Here are the pairs.\n1. Q1: How does the text begin?\n   A1: "
              + first
              + "\n2. Q2: And the end?\n   A2: "
              + last;
    };
  }

  @Test
  void theStoryIsChunkedInOrderAndEveryAnswerComesFromItsChunkAndAStoppedRunResumes()
      throws Exception {
    Path story = SharedDatasets.file("the-verdict.txt");
    byte[] bytes = Files.readAllBytes(story);
    Scripted teacher = new Scripted(3, CorpusSynthesisTest::quotingRule);
    JobSpec spec =
        RecipeSpecs.aSynthesis()
            .teacher(ModelRef.endpoint("http://127.0.0.1:9/v1", "big"))
            .dataset(
                new DatasetSpec(
                    "file:" + story, "text", "gemma", null, null, null, null, null, null))
            .generation(
                new GenerationSpec(
                    1000, 64, 0.0, 1.0, null, null, null, GenerationSpec.CORPUS, 200, 2))
            .build();
    AtomicInteger checks = new AtomicInteger();
    StopSignal preemptAfter2Batches =
        () ->
            checks.incrementAndGet() > 2
                ? Optional.of(StopSignal.Reason.PREEMPTED)
                : Optional.empty();
    RunResult first =
        Recipes.run(
            spec,
            new RunContext(
                tmp, Map.of(), null, preemptAfter2Batches, teacher.connector(), null, null, null));
    assertThat(first.outcome()).isEqualTo(RunResult.Outcome.PREEMPTED);
    assertThat(first.metrics().get("samples_attempted")).isEqualTo(6.0);

    RecipeSpecs.Recorder rec = new RecipeSpecs.Recorder();
    RunResult r =
        Recipes.run(
            spec, new RunContext(tmp, Map.of(), rec, null, teacher.connector(), null, null, null));
    assertThat(r.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    assertThat(rec.events).anyMatch(e -> e.startsWith("resumed: synthesize resumes after 6 of "));
    Path dir = r.lastCheckpoint().dir();
    JsonNode manifest = JSON.readTree(dir.resolve(SynthesisRecipe.MANIFEST_FILE).toFile());
    int chunks = manifest.get("chunks").asInt();
    assertThat(manifest.get("method").asString()).isEqualTo("corpus");
    assertThat(chunks).isGreaterThan(10); // about 3,600 words, 200 a chunk
    for (int i = 0; i < chunks; i++) {
      assertThat(teacher.asked.get("sample " + i + " response")).as("chunk " + i).hasValue(1);
    }
    assertThat(r.metrics().get("dropped_unparseable")).isEqualTo(1.0);
    assertThat(r.metrics().get("samples_written")).isEqualTo(chunks - 1.0);

    List<JsonNode> rows = new ArrayList<>();
    for (String l : Files.readAllLines(dir.resolve(SynthesisRecipe.DATA_FILE))) {
      rows.add(JSON.readTree(l));
    }
    assertThat(rows).hasSize(chunks - 1);
    int prevIndex = -1;
    long prevEnd = 0;
    for (JsonNode row : rows) {
      JsonNode src = row.get("source");
      int index = src.get("chunk").asInt();
      long start = src.get("start_byte").asLong();
      long end = src.get("end_byte").asLong();
      assertThat(index).isGreaterThan(prevIndex);
      assertThat(start).isGreaterThanOrEqualTo(prevEnd);
      String chunk =
          new String(Arrays.copyOfRange(bytes, (int) start, (int) end), StandardCharsets.UTF_8);
      if (index == prevIndex + 1) {
        // adjacent chunks: only whitespace between them
        String gap =
            new String(
                Arrays.copyOfRange(bytes, (int) prevEnd, (int) start), StandardCharsets.UTF_8);
        assertThat(gap).as("gap before chunk " + index).isBlank();
      } else {
        assertThat(index).isEqualTo(3); // chunk 2 had no pairs
      }
      assertThat(row.get("text").asString()).startsWith(chunk + "\n\nQuestion: ");
      assertThat(row.get("pairs")).hasSize(2);
      for (JsonNode pair : row.get("pairs")) {
        assertThat(chunk).as("chunk " + index).contains(pair.get("answer").asString());
        assertThat(row.get("text").asString())
            .contains("Question: " + pair.get("question").asString())
            .contains("Answer: " + pair.get("answer").asString());
      }
      prevIndex = index;
      prevEnd = end;
    }
    // the chunks cover the story: from its first word to its last
    String text = new String(bytes, StandardCharsets.UTF_8);
    assertThat(rows.get(0).get("source").get("start_byte").asLong())
        .isEqualTo(text.length() - text.stripLeading().length());
    assertThat(prevEnd).isEqualTo(text.stripTrailing().getBytes(StandardCharsets.UTF_8).length);
    assertThat(prevIndex).isEqualTo(chunks - 1);

    // the output reads as format text (one document a row), alone or in a mix
    List<Example> docs = ExampleReader.readAll(dir.resolve(SynthesisRecipe.DATA_FILE), "text");
    assertThat(docs).hasSize(rows.size());
    assertThat(((Example.Text) docs.get(0)).text()).isEqualTo(rows.get(0).get("text").asString());
  }

  @Test
  void aLocalTeacherChunksByItsTokenizerAndUnparseableAnswersAreCountedNotFatal() {
    // gemma2-tiny is random: its answers hold no pairs, so the run keeps none and says why
    JobSpec spec =
        RecipeSpecs.aSynthesis()
            .teacher(ModelRef.of("builtin:gemma2-tiny"))
            .dataset(
                new DatasetSpec(
                    "file:" + SharedDatasets.file("the-verdict.txt"),
                    "text",
                    "gemma",
                    null,
                    null,
                    null,
                    null,
                    null,
                    null))
            .generation(
                new GenerationSpec(2, 4, 0.0, 1.0, null, null, null, GenerationSpec.CORPUS, 32, 2))
            .build();
    RecipeSpecs.Recorder rec = new RecipeSpecs.Recorder();
    assertThatThrownBy(() -> Recipes.run(spec, new RunContext(tmp, Map.of(), rec, null)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageStartingWith("synthesize kept 0 of 2 chunks");
    assertThat(rec.events)
        .anyMatch(
            e ->
                e.startsWith("started: synthesize corpus: 2 chunks of file:")
                    && e.contains("(at most 32 tokens each) given to builtin:gemma2-tiny"));
  }

  @Test
  void chunksKeepToTheTokenBudgetAndCountBytesInUtf8() {
    List<Corpus.Doc> docs =
        List.of(new Corpus.Doc(0, "  café au lait\n\nnaïve résumé ok  "), new Corpus.Doc(1, "x y"));
    // a token a character: "café"=4, "au"=2, "lait"=4, ...
    List<Corpus.Chunk> chunks = Corpus.chunk(docs, 6, String::length, 100);
    assertThat(chunks)
        .extracting(Corpus.Chunk::text)
        .containsExactly("café au", "lait", "naïve", "résumé", "ok", "x y");
    Corpus.Chunk lait = chunks.get(1);
    byte[] b = docs.get(0).text().getBytes(StandardCharsets.UTF_8);
    assertThat(
            new String(
                Arrays.copyOfRange(b, (int) lait.startByte(), (int) lait.endByte()),
                StandardCharsets.UTF_8))
        .isEqualTo("lait");
    Corpus.Chunk resume = chunks.get(3);
    assertThat(
            new String(
                Arrays.copyOfRange(b, (int) resume.startByte(), (int) resume.endByte()),
                StandardCharsets.UTF_8))
        .isEqualTo("résumé");
    assertThat(chunks.get(5).record()).isEqualTo(1);
    assertThat(Corpus.chunk(docs, 6, String::length, 2)).hasSize(2);
  }

  @Test
  void pairsAreParsedFromCommonLayoutsAndProseYieldsNone() {
    assertThat(Corpus.parse("Question: Who?\nAnswer: Gisburn.\n\nQ: When?\nA: Later"))
        .containsExactly(new Corpus.Pair("Who?", "Gisburn."), new Corpus.Pair("When?", "Later"));
    assertThat(Corpus.parse("1. Question 1: Why?\n   Answer 1: Because.")).hasSize(1);
    assertThat(Corpus.parse("I would rather not.\nQuestion: dangling")).isEmpty();
    assertThat(Corpus.parse("")).isEmpty();
  }

  /**
   * The chunks of one document cut as the first version did, from the whole text in memory (a regex
   * over the string): the reference the streamed chunker must match chunk for chunk.
   */
  static List<Corpus.Chunk> wholeText(String text, int maxTokens, ToIntFunction<String> tokens) {
    List<Corpus.Chunk> out = new ArrayList<>();
    Matcher m = Pattern.compile("\\S+").matcher(text);
    int start = -1;
    int end = -1;
    int used = 0;
    long bytesBefore = 0; // UTF-8 bytes of text[0, prevEnd)
    int prevEnd = 0;
    while (true) {
      boolean found = m.find();
      int cost = found ? Math.max(1, tokens.applyAsInt(m.group())) : 0;
      if (start >= 0 && (!found || used + cost > maxTokens)) {
        long startByte = bytesBefore + utf8(text.substring(prevEnd, start));
        long endByte = startByte + utf8(text.substring(start, end));
        out.add(new Corpus.Chunk(out.size(), 0, startByte, endByte, text.substring(start, end)));
        bytesBefore = endByte;
        prevEnd = end;
        start = -1;
        used = 0;
      }
      if (!found) {
        return out;
      }
      if (start < 0) {
        start = m.start();
      }
      end = m.end();
      used += cost;
    }
  }

  private static long utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8).length;
  }

  @Test
  void aCorpusMuchLargerThanAChunkIsReadStreamedAndCutExactlyAsTheWholeText() throws Exception {
    // the story 60 times over (about 1.3 MB), with some non-ASCII words for the byte offsets
    String story = Files.readString(SharedDatasets.file("the-verdict.txt"));
    StringBuilder big = new StringBuilder();
    for (int k = 0; k < 60; k++) {
      big.append("Copy ").append(k).append(" — naïve café\n\n").append(story).append("\n\n");
    }
    Path file = tmp.resolve("big.txt");
    Files.writeString(file, big, StandardCharsets.UTF_8);
    String text = big.toString();
    assertThat(Files.size(file)).isGreaterThan(1_000_000);
    ToIntFunction<String> chars = String::length; // a token a character
    List<Corpus.Chunk> expected = wholeText(text, 64, chars);
    int n = 0;
    try (Corpus.Chunker c = Corpus.Chunker.of(file, "file:big.txt", 64, chars)) {
      for (Corpus.Chunk got = c.next(); got != null; got = c.next()) {
        if (!got.equals(expected.get(n))) {
          assertThat(got).as("chunk " + n).isEqualTo(expected.get(n));
        }
        n++;
      }
      assertThat(n).isEqualTo(expected.size()).isGreaterThan(10_000);
      // what it held at once: one chunk (at most 64 word characters and the whitespace among
      // them) and the word being read, never the 1.3 MB file
      assertThat(c.peakHeld()).isLessThan(1_000);
    }
  }

  @Test
  void aLocalTeachersChunksAreCutByItsTokenizerAndTheirOffsetsPointAtTheStory() throws Exception {
    // our own model as the teacher: gemma2-tiny (random weights) with GPT-2's BPE tokenizer. Its
    // answers hold no pairs (it is random), so what is checked is what it was shown: every chunk
    // in the progress log must be the story's bytes at its offsets, fit chunk_tokens by this
    // tokenizer's count and be full (the next word would not fit), one after another with only
    // whitespace between. A chunker counting words or bytes, or offsets off by one, fails.
    Path gpt2 = TokenizerFixtures.writeGpt2(Files.createDirectories(tmp.resolve("gpt2")));
    Tokenizer tok = Tokenizers.load(gpt2);
    Path story = SharedDatasets.file("the-verdict.txt");
    byte[] bytes = Files.readAllBytes(story);
    int budget = 32;
    JobSpec spec =
        RecipeSpecs.aSynthesis()
            .teacher(new ModelRef("builtin:gemma2-tiny", null, "file:" + gpt2))
            .dataset(
                new DatasetSpec(
                    "file:" + story, "text", "alpaca", null, null, null, null, null, null))
            .generation(
                new GenerationSpec(
                    6, 3, 0.0, 1.0, null, null, null, GenerationSpec.CORPUS, budget, 2))
            .build();
    RunContext ctx = new RunContext(tmp.resolve("local"), Map.of(), null, null);
    assertThatThrownBy(() -> Recipes.run(spec, ctx))
        .hasMessageStartingWith("synthesize kept 0 of 6 chunks");
    List<String> log = Files.readAllLines(ctx.progressDir().resolve(SynthesisRecipe.PROGRESS_FILE));
    assertThat(log).hasSize(1 + 6); // the header, then one entry a chunk
    String text = new String(bytes, StandardCharsets.UTF_8);
    long prevEnd = text.length() - text.stripLeading().length(); // before the first word
    for (int i = 0; i < 6; i++) {
      JsonNode e = JSON.readTree(log.get(1 + i));
      JsonNode src = e.get("source");
      assertThat(e.get("i").asInt()).isEqualTo(i);
      assertThat(src.get("chunk").asInt()).isEqualTo(i);
      long start = src.get("start_byte").asLong();
      long end = src.get("end_byte").asLong();
      String gap =
          new String(Arrays.copyOfRange(bytes, (int) prevEnd, (int) start), StandardCharsets.UTF_8);
      assertThat(gap).as("gap before chunk " + i).isBlank();
      if (i > 0) {
        assertThat(start).isGreaterThan(prevEnd);
      }
      String chunk =
          new String(Arrays.copyOfRange(bytes, (int) start, (int) end), StandardCharsets.UTF_8);
      int used = 0;
      for (String w : chunk.split("\\s+")) {
        used += tok.encode(" " + w).length;
      }
      assertThat(used).as("tokens of chunk " + i).isLessThanOrEqualTo(budget);
      String after =
          text.substring(
                  new String(Arrays.copyOfRange(bytes, 0, (int) end), StandardCharsets.UTF_8)
                      .length())
              .strip();
      String next = after.split("\\s+", 2)[0];
      assertThat(used + tok.encode(" " + next).length)
          .as("chunk " + i + " is full: " + next + " did not fit")
          .isGreaterThan(budget);
      prevEnd = end;
    }
  }
}
