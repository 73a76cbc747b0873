package dev.distill.trainer.recipe;

import dev.distill.spec.DatasetSpec;
import dev.distill.spec.GenerationSpec;
import dev.distill.spec.JobSpec;
import dev.distill.trainer.checkpoint.Checkpoint;
import dev.distill.trainer.checkpoint.CheckpointManager;
import dev.distill.trainer.checkpoint.TrainerState;
import dev.distill.trainer.data.Example;
import dev.distill.trainer.data.ExampleReader;
import dev.distill.trainer.data.Message;
import dev.distill.trainer.data.PromptTemplate;
import dev.distill.trainer.recipe.SynthesisRecipe.Counts;
import dev.distill.trainer.recipe.SynthesisRecipe.Gen;
import dev.distill.trainer.recipe.SynthesisRecipe.Samples;
import dev.distill.trainer.recipe.SynthesisRecipe.Source;
import java.io.BufferedWriter;
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
   * The records to answer, in file order.
   *
   * @throws IllegalArgumentException naming the dataset and record when one has no user turn to
   *     answer
   */
  static List<Source> read(JobSpec spec, RunContext ctx) {
    DatasetSpec data = DatasetRefs.resolve(spec.dataset(), ctx);
    String uri = data.uri();
    Path file = Path.of(uri.startsWith("file:") ? uri.substring("file:".length()) : uri);
    List<Source> out = new ArrayList<>();
    ExampleReader.readPrompts(
        file,
        data.format(),
        (example, record) -> {
          Example.Chat chat = (Example.Chat) example;
          List<Message> messages = new ArrayList<>(chat.messages());
          if (messages.get(messages.size() - 1).isAssistant()) {
            messages.remove(messages.size() - 1); // the reference answer: the teacher's replaces it
          }
          if (messages.isEmpty() || !messages.get(messages.size() - 1).role().equals("user")) {
            throw new IllegalArgumentException(
                "dataset "
                    + spec.dataset().uri()
                    + ": record "
                    + (out.size() + 1)
                    + " has no user turn for the teacher to answer (generation.mode responses)");
          }
          out.add(new Source(out.size(), new Example.Chat(messages, chat.input()), record));
        });
    if (out.isEmpty()) {
      throw new IllegalArgumentException(
          "dataset " + spec.dataset().uri() + ": no instructions to answer");
    }
    return out;
  }

  /** Answers the first {@code num_samples} records, {@code concurrency} at a time, resumably. */
  static RunResult run(
      JobSpec spec,
      RunContext ctx,
      PromptTemplate template,
      List<Source> sources,
      Samples samples,
      String about) {
    GenerationSpec gen = spec.generation();
    int total = Math.min(gen.numSamples(), sources.size());
    Counts counts = new Counts();
    String[] outputs = new String[total];
    Path logFile = ctx.progressDir().resolve(SynthesisRecipe.PROGRESS_FILE);
    ExecutorService pool =
        samples.concurrency() > 1 ? Executors.newFixedThreadPool(samples.concurrency()) : null;
    try (ProgressLog log = ProgressLog.open(logFile, SpecHash.of(spec))) {
      for (JsonNode e : log.done()) {
        replay(e, counts, outputs);
      }
      if (counts.attempted > 0) {
        ctx.listener()
            .onEvent(
                "resumed",
                "synthesize resumes after "
                    + counts.attempted
                    + " of "
                    + total
                    + " instructions ("
                    + counts.written
                    + " answered) from "
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
                  stop.get().eventType(),
                  "stopped after " + first + " of " + total + " instructions");
          return RunResult.synthesized(RunResult.Outcome.of(stop.get()), 0, null, counts.asMap());
        }
        int n = Math.min(batch, total - first);
        List<Gen> answers =
            SynthesisRecipe.run(
                pool, n, k -> samples.answer(first + k, sources.get(first + k).prompt()));
        List<Map<String, Object>> entries = new ArrayList<>();
        for (int k = 0; k < n; k++) {
          Gen a = answers.get(k);
          String output = a.text().strip();
          Map<String, Object> entry = new LinkedHashMap<>();
          entry.put("i", first + k);
          if (a.status() == Gen.Status.NO_ROOM) {
            entry.put("outcome", SynthesisRecipe.DROPPED_TOO_LONG);
          } else if (output.isEmpty()) {
            entry.put("outcome", SynthesisRecipe.DROPPED_EMPTY_RESPONSE);
          } else {
            entry.put(
                "outcome",
                a.status() == Gen.Status.TRUNCATED
                    ? SynthesisRecipe.WRITTEN_TRUNCATED
                    : SynthesisRecipe.WRITTEN);
            entry.put("output", output);
          }
          entry.put("tokens", a.tokens());
          entries.add(entry);
        }
        log.append(entries);
        for (Map<String, Object> entry : entries) {
          replay(JSON.valueToTree(entry), counts, outputs);
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
                  "dropped %d of %d instructions: %d with no room for a response, %d empty"
                      + " responses",
                  counts.dropped(),
                  counts.attempted,
                  counts.droppedTooLong,
                  counts.droppedEmptyResponse));
    }
    if (counts.written == 0) {
      throw new IllegalStateException(
          String.format(
              "synthesize answered 0 of %d instructions (%d with no room for a response in the"
                  + " teacher's context, %d empty responses)",
              counts.attempted, counts.droppedTooLong, counts.droppedEmptyResponse));
    }
    Checkpoint out = save(spec, ctx, template, sources, outputs, counts);
    ctx.listener().onCheckpoint(out, true);
    ctx.listener()
        .onEvent(
            "finished",
            "wrote "
                + counts.written
                + " answered instructions to "
                + out.dir().resolve(SynthesisRecipe.DATA_FILE)
                + " ("
                + counts.dropped()
                + " dropped)");
    return RunResult.synthesized(RunResult.Outcome.COMPLETED, counts.written, out, counts.asMap());
  }

  private static void replay(JsonNode e, Counts counts, String[] outputs) {
    counts.attempted++;
    counts.generatedTokens += e.get("tokens").asLong();
    String outcome = e.get("outcome").asString();
    switch (outcome) {
      case SynthesisRecipe.WRITTEN, SynthesisRecipe.WRITTEN_TRUNCATED -> {
        outputs[e.get("i").asInt()] = e.get("output").asString();
        counts.written++;
        if (outcome.equals(SynthesisRecipe.WRITTEN_TRUNCATED)) {
          counts.truncatedResponses++;
        }
      }
      case SynthesisRecipe.DROPPED_TOO_LONG -> counts.droppedTooLong++;
      case SynthesisRecipe.DROPPED_EMPTY_RESPONSE -> counts.droppedEmptyResponse++;
      default -> throw new IllegalStateException("progress log: unknown outcome " + e);
    }
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

  private static Checkpoint save(
      JobSpec spec,
      RunContext ctx,
      PromptTemplate template,
      List<Source> sources,
      String[] outputs,
      Counts counts) {
    GenerationSpec gen = spec.generation();
    String format = spec.dataset().format();
    Map<String, Object> manifest = new LinkedHashMap<>();
    manifest.put("method", METHOD);
    manifest.put("model", spec.teacher().uri());
    if (spec.teacher().model() != null) {
      manifest.put("endpoint_model", spec.teacher().model());
    }
    manifest.put("dataset", spec.dataset().uri());
    manifest.put("source_records", sources.size());
    manifest.put("template", template.id());
    manifest.put("format", format);
    manifest.put("data_file", SynthesisRecipe.DATA_FILE);
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
                  Files.newBufferedWriter(
                      dir.resolve(SynthesisRecipe.DATA_FILE), StandardCharsets.UTF_8)) {
                for (int i = 0; i < outputs.length; i++) {
                  if (outputs[i] != null) {
                    w.write(JSON.writeValueAsString(row(format, sources.get(i), outputs[i])));
                    w.write('\n');
                  }
                }
              }
              JSON.writerWithDefaultPrettyPrinter()
                  .writeValue(dir.resolve(SynthesisRecipe.MANIFEST_FILE).toFile(), manifest);
            });
  }
}
