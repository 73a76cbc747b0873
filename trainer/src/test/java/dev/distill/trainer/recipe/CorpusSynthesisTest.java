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
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
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
}
