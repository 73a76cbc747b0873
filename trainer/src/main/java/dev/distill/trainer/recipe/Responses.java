package dev.distill.trainer.recipe;

import dev.distill.spec.DatasetSpec;
import dev.distill.spec.GenerationSpec;
import dev.distill.spec.JobSpec;
import dev.distill.trainer.data.Example;
import dev.distill.trainer.data.ExampleReader;
import dev.distill.trainer.data.Message;
import dev.distill.trainer.data.PromptTemplate;
import dev.distill.trainer.recipe.SynthesisRecipe.Counts;
import dev.distill.trainer.recipe.SynthesisRecipe.Source;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * Sequence-level distillation (Kim and Rush 2016), {@code generation.mode: responses}: the teacher
 * answers each instruction of the job's {@code dataset} (Alpaca, whose {@code output} may be
 * absent, or chat, ending with a user turn or with an assistant turn that is replaced), so that a
 * student can be finetuned on the teacher's answers alone, or distilled on them with logits (the
 * teacher then scores its own text).
 *
 * <p>Record {@code i} (0-based, in file order; the first {@code num_samples}) is answered from the
 * seed of {@link SynthesisRecipe#sampleSeed}{@code (seed, i, 1)}, so a run is deterministic and a
 * resumed run writes the same file. The output is in the dataset's format with the instructions
 * unchanged and a {@code source_index} per row; the manifest names the teacher, the dataset, the
 * template and the sampling settings. Progress goes to the same log as Magpie's.
 */
final class Responses {

  static final String METHOD = "responses";

  private static final ObjectMapper JSON = JsonMapper.builder().build();

  private Responses() {}

  /**
   * Reads the instruction file through once (one record held at a time) and checks every record.
   *
   * @return how many records it holds
   * @throws IllegalArgumentException naming the dataset and record when one has no user turn to
   *     answer, or when there is none
   */
  static int count(JobSpec spec, RunContext ctx) {
    int n = 0;
    try (SynthesisRecipe.Items<Source> it = sources(spec, ctx)) {
      while (it.next() != null) {
        n++;
      }
    }
    if (n == 0) {
      throw new IllegalArgumentException(
          "dataset " + spec.dataset().uri() + ": no instructions to answer");
    }
    return n;
  }

  /** The records to answer, streamed in file order. */
  static SynthesisRecipe.Items<Source> sources(JobSpec spec, RunContext ctx) {
    DatasetSpec data = DatasetRefs.resolve(spec.dataset(), ctx);
    String uri = data.uri();
    Path file = Path.of(uri.startsWith("file:") ? uri.substring("file:".length()) : uri);
    ExampleReader.Cursor cursor = ExampleReader.openPrompts(file, data.format());
    return new SynthesisRecipe.Items<>() {
      int index;

      @Override
      public Source next() {
        ExampleReader.Cursor.Item item = cursor.next();
        if (item == null) {
          return null;
        }
        Example.Chat chat = (Example.Chat) item.example();
        List<Message> messages = new ArrayList<>(chat.messages());
        if (messages.get(messages.size() - 1).isAssistant()) {
          messages.remove(messages.size() - 1); // the reference answer: the teacher's replaces it
        }
        if (messages.isEmpty() || !messages.get(messages.size() - 1).role().equals("user")) {
          throw new IllegalArgumentException(
              "dataset "
                  + spec.dataset().uri()
                  + ": record "
                  + (index + 1)
                  + " has no user turn for the teacher to answer (generation.mode responses)");
        }
        return new Source(index++, new Example.Chat(messages, chat.input()), item.record());
      }

      @Override
      public void close() {
        cursor.close();
      }
    };
  }

  /** The unit of {@link SynthesisRecipe#loop}: the first {@code num_samples} records answered. */
  static SynthesisRecipe.Unit<Source> unit(
      JobSpec spec, RunContext ctx, PromptTemplate template, int records, String who) {
    GenerationSpec gen = spec.generation();
    int total = Math.min(gen.numSamples(), records);
    return new SynthesisRecipe.Unit<>("instructions", "answered", total) {
      @Override
      SynthesisRecipe.Items<Source> items() {
        return sources(spec, ctx);
      }

      @Override
      String about() {
        return String.format(
            "synthesize responses: %d of %d instructions of %s answered by %s, template %s,"
                + " temperature %s, top_p %s, seed %d",
            total,
            records,
            spec.dataset().uri(),
            who,
            template.id(),
            gen.temperature(),
            gen.topP(),
            spec.hyperparameters().seed());
      }

      @Override
      Example.Chat prompt(Source item) {
        return item.prompt();
      }

      @Override
      Map<String, Object> row(Source item, JsonNode entry) {
        return Responses.row(spec.dataset().format(), item, entry.get("output").asString());
      }

      @Override
      String dropped(Counts counts) {
        return String.format(
            "dropped %d of %d instructions: %d with no room for a response, %d empty responses",
            counts.dropped(), counts.attempted, counts.droppedTooLong, counts.droppedEmptyResponse);
      }

      @Override
      String noneKept(Counts counts) {
        return String.format(
            "synthesize answered 0 of %d instructions (%d with no room for a response in the"
                + " teacher's context, %d empty responses)",
            counts.attempted, counts.droppedTooLong, counts.droppedEmptyResponse);
      }

      @Override
      String rowsWord() {
        return "answered instructions";
      }

      @Override
      Map<String, Object> manifest(Counts counts) {
        Map<String, Object> manifest = new LinkedHashMap<>();
        manifest.put("method", METHOD);
        manifest.put("model", spec.teacher().uri());
        if (spec.teacher().model() != null) {
          manifest.put("endpoint_model", spec.teacher().model());
        }
        manifest.put("dataset", spec.dataset().uri());
        manifest.put("source_records", records);
        manifest.put("template", template.id());
        manifest.put("format", spec.dataset().format());
        manifest.put("data_file", SynthesisRecipe.DATA_FILE);
        manifest.put("settings", SynthesisRecipe.settings(gen));
        manifest.put("seed", spec.hyperparameters().seed());
        manifest.put("counts", counts.asLongs());
        return manifest;
      }
    };
  }

  /** One output row in the dataset's format: the instruction unchanged, the teacher's answer. */
  static Map<String, Object> row(String format, Source s, String output) {
    Map<String, Object> line = new LinkedHashMap<>();
    if (format.equals("chat")) {
      List<Map<String, String>> messages = new ArrayList<>();
      // role before content, in every run: the file is byte-for-byte deterministic
      for (Message m : s.prompt().messages()) {
        messages.add(message(m.role(), m.content()));
      }
      messages.add(message("assistant", output));
      line.put("messages", messages);
    } else {
      line.put("instruction", s.prompt().messages().get(0).content());
      line.put("input", s.prompt().input());
      line.put("output", output);
    }
    line.put("source_index", s.index());
    return line;
  }

  private static Map<String, String> message(String role, String content) {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("role", role);
    m.put("content", content);
    return m;
  }
}
