package dev.distill.trainer.recipe;

import ai.djl.ndarray.NDManager;
import dev.distill.spec.DatasetSpec;
import dev.distill.spec.JobSpec;
import dev.distill.spec.JudgeSpec;
import dev.distill.trainer.data.BatchIterator;
import dev.distill.trainer.data.Datasets;
import dev.distill.trainer.data.EvalRecord;
import dev.distill.trainer.data.PromptTemplate;
import dev.distill.trainer.data.Sequence;
import dev.distill.trainer.data.SequenceBuilder;
import dev.distill.trainer.text.TextAnswer;
import dev.distill.trainer.text.TextModel;
import dev.distill.trainer.text.TextRequest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * The per-example part of an evaluation ({@value #FILE}): for each example of the evaluation set
 * (at most {@code generation.num_samples}) the prompt, the reference, the response (the student's
 * greedy answer up to its end-of-turn marker, or a dataset field with {@code judge.responses}), the
 * student's loss on the reference, and with a {@code judge} the judge's raw answer and the parsed
 * score (or why it is unscored). Judge requests to an endpoint run up to its {@code concurrency} at
 * once while the student works on the next examples.
 *
 * <p>Each finished example goes to the progress log ({@value #PROGRESS_FILE}) before it counts as
 * done; a later attempt skips the examples there, so no example is judged twice.
 */
final class ExampleResults {

  /** The per-example results in the output directory. */
  static final String FILE = "generations.jsonl";

  /** The progress log under {@link RunContext#progressDir()}. */
  static final String PROGRESS_FILE = "evaluation.jsonl";

  private static final ObjectMapper JSON = JsonMapper.builder().build();

  /**
   * What the per-example pass produced.
   *
   * @param rows every example's result, in order of the evaluation set
   * @param judge the scores, or null without a judge
   * @param stopped why the pass stopped early, if it did
   */
  record Outcome(List<JsonNode> rows, JudgeScores judge, Optional<StopSignal.Reason> stopped) {}

  private ExampleResults() {}

  static Outcome run(
      JobSpec spec,
      RunContext ctx,
      DatasetSpec dataset,
      Models.Loaded student,
      PromptTemplate template,
      NDManager manager,
      int chunk) {
    JudgeSpec judge = spec.judge();
    List<EvalRecord> records = Datasets.evaluationRecords(dataset, spec.generation().numSamples());
    if (judge != null && !judge.generatesResponses()) {
      for (EvalRecord r : records) {
        if (r.field(judge.responses()) == null) {
          throw new IllegalArgumentException(
              "judge.responses: example "
                  + (r.index() + 1)
                  + " of the evaluation set has no string field '"
                  + judge.responses()
                  + "'");
        }
      }
    }
    SequenceBuilder sequences =
        new SequenceBuilder(
            student.tokenizer(), template, dataset.maxSeqLen(), dataset.maskPrompt(), false);
    Map<Integer, JsonNode> done = new TreeMap<>();
    try (ProgressLog log =
            ProgressLog.open(ctx.progressDir().resolve(PROGRESS_FILE), SpecHash.of(spec));
        TextModel judgeModel = judge == null ? null : openJudge(judge, ctx, template, manager)) {
      log.done().forEach(e -> done.put(e.get("index").asInt(), e));
      ctx.listener()
          .onEvent(
              done.isEmpty() ? "started" : "resumed",
              "per-example results for "
                  + records.size()
                  + " examples"
                  + (done.isEmpty() ? "" : ", " + done.size() + " done by an earlier attempt")
                  + (judge == null
                      ? ""
                      : ", judged by "
                          + judge.model().uri()
                          + (judgeModel.concurrency() > 1
                              ? " (" + judgeModel.concurrency() + " requests at once)"
                              : "")));
      ExecutorService pool =
          judgeModel != null && judgeModel.threadSafe()
              ? Executors.newFixedThreadPool(judgeModel.concurrency())
              : null;
      Semaphore inFlight = new Semaphore(pool == null ? 1 : judgeModel.concurrency());
      List<Future<?>> pending = new ArrayList<>();
      Optional<StopSignal.Reason> stopped = Optional.empty();
      try {
        for (EvalRecord r : records) {
          if (done.containsKey(r.index())) {
            continue;
          }
          stopped = ctx.stop().check();
          if (stopped.isPresent()) {
            break;
          }
          rethrowFailed(pending);
          Map<String, Object> row =
              studentPart(spec, r, student, template, sequences, manager, chunk);
          if (judgeModel == null) {
            log.append(List.of(row));
          } else if (pool == null) {
            row.putAll(judged(judge, judgeModel, r, (String) row.get("response")));
            log.append(List.of(row));
          } else {
            inFlight.acquireUninterruptibly();
            pending.add(
                pool.submit(
                    () -> {
                      try {
                        row.putAll(judged(judge, judgeModel, r, (String) row.get("response")));
                        log.append(List.of(row));
                      } finally {
                        inFlight.release();
                      }
                    }));
          }
        }
        // what is in flight is finished and logged, also when the run stops here
        for (Future<?> f : pending) {
          Parallel.await(f);
        }
      } finally {
        if (pool != null) {
          pool.shutdownNow();
        }
      }
      List<JsonNode> rows = new ArrayList<>(done.values());
      if (stopped.isEmpty()) {
        rows = readBack(ctx);
      }
      JudgeScores scores = judge == null ? null : new JudgeScores(judge);
      if (scores != null) {
        rows.forEach(
            row ->
                scores.add(
                    row.get("score") == null || row.get("score").isNull()
                        ? null
                        : row.get("score").asInt()));
      }
      return new Outcome(rows, scores, stopped);
    }
  }

  /** Every logged row, in order of the evaluation set. */
  private static List<JsonNode> readBack(RunContext ctx) {
    // the log was complete when closed: reopen it only to read (same spec, so nothing is set aside)
    List<JsonNode> rows = new ArrayList<>();
    try {
      for (String line :
          java.nio.file.Files.readAllLines(ctx.progressDir().resolve(PROGRESS_FILE))) {
        if (!line.isBlank()) {
          JsonNode n = JSON.readTree(line);
          if (n.has("index")) {
            rows.add(n);
          }
        }
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    rows.sort(Comparator.comparingInt(n -> n.get("index").asInt()));
    return rows;
  }

  private static void rethrowFailed(List<Future<?>> pending) {
    for (Future<?> f : pending) {
      if (f.isDone()) {
        Parallel.await(f);
      }
    }
  }

  private static TextModel openJudge(
      JudgeSpec judge, RunContext ctx, PromptTemplate template, NDManager manager) {
    if (judge.model().isEndpoint()) {
      return ctx.endpoints().connect(judge.model());
    }
    Models.Loaded loaded = Models.resolve(judge.model(), ctx, manager, judge.seed());
    loaded.model().requireGradients(false);
    LocalTextModel local = new LocalTextModel(loaded, template, manager);
    return new TextModel() {
      @Override
      public TextAnswer complete(TextRequest request) {
        return local.complete(request);
      }

      @Override
      public TextAnswer chat(TextRequest request) {
        return local.chat(request);
      }

      @Override
      public int concurrency() {
        return 1;
      }

      @Override
      public boolean threadSafe() {
        return false;
      }

      @Override
      public void close() {
        loaded.close();
      }
    };
  }

  /** The student's part of a row: prompt, reference, response, loss. */
  private static Map<String, Object> studentPart(
      JobSpec spec,
      EvalRecord r,
      Models.Loaded student,
      PromptTemplate template,
      SequenceBuilder sequences,
      NDManager manager,
      int chunk) {
    Map<String, Object> row = new LinkedHashMap<>();
    row.put("index", r.index());
    row.put("instruction", r.instruction());
    row.put("input", r.example().input());
    String prompt = template.generationPrompt(r.question(), student.tokenizer().bosToken());
    row.put("prompt", prompt);
    row.put("reference", r.reference());
    JudgeSpec judge = spec.judge();
    String response;
    if (judge != null && !judge.generatesResponses()) {
      response = r.field(judge.responses());
      row.put("response_source", judge.responses());
    } else {
      LocalTextModel generator = new LocalTextModel(student, template, manager);
      TextAnswer a =
          generator.complete(
              new TextRequest(
                  prompt, spec.generation().maxNewTokens(), 0.0, 1.0, 0, List.of(), "student"));
      response = a.text().strip();
      row.put("response_source", JudgeSpec.STUDENT);
      row.put("response_truncated", a.truncated());
    }
    row.put("response", response);
    Sequence seq = sequences.encode(r.example());
    int tokens = seq.lossTokens();
    double loss =
        tokens == 0
            ? Double.NaN
            : Evaluator.losses(
                    student.model(),
                    null,
                    BatchIterator.sequential(List.of(seq), 1, student.tokenizer().padId(), 0),
                    manager,
                    chunk,
                    null)
                .get(Evaluator.CE);
    row.put("loss", Double.isFinite(loss) ? loss : null);
    row.put("loss_tokens", tokens);
    return row;
  }

  /** The judge's part of a row: its raw answer and the score, or why there is none. */
  static Map<String, Object> judged(
      JudgeSpec judge, TextModel model, EvalRecord r, String response) {
    String prompt = scoringPrompt(judge.prompt(), r, response);
    TextAnswer a =
        model.chat(
            new TextRequest(
                prompt,
                judge.maxNewTokens(),
                0.0,
                1.0,
                judge.seed(),
                List.of(),
                "example " + r.index()));
    JudgeScores.Parsed p = JudgeScores.parse(a.text(), judge.minScore(), judge.maxScore());
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("judge_raw", a.text());
    out.put("score", p.score());
    if (p.problem() != null) {
      out.put("unscored_reason", p.problem());
    }
    return out;
  }

  /**
   * The scoring prompt with its placeholders filled in one pass (a response that contains {@code
   * {reference}} stays as written).
   */
  static String scoringPrompt(String template, EvalRecord r, String response) {
    Map<String, String> values = new LinkedHashMap<>();
    values.put("{prompt}", formatInput(r.instruction(), r.example().input()));
    values.put("{instruction}", r.instruction());
    values.put("{input}", r.example().input());
    values.put("{reference}", r.reference());
    values.put("{response}", response);
    StringBuilder out = new StringBuilder();
    int i = 0;
    outer:
    while (i < template.length()) {
      if (template.charAt(i) == '{') {
        for (var e : values.entrySet()) {
          if (template.startsWith(e.getKey(), i)) {
            out.append(e.getValue());
            i += e.getKey().length();
            continue outer;
          }
        }
      }
      out.append(template.charAt(i++));
    }
    return out.toString();
  }

  /** Chapter 7's {@code format_input}: the Alpaca instruction block, and the input if any. */
  static String formatInput(String instruction, String input) {
    return "Below is an instruction that describes a task. Write a response that appropriately"
        + " completes the request.\n\n### Instruction:\n"
        + instruction
        + (input == null || input.isEmpty() ? "" : "\n\n### Input:\n" + input);
  }
}
