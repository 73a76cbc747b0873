package dev.distill.trainer.data;

import dev.distill.spec.Catalog;
import dev.distill.spec.DatasetSpec;
import dev.distill.trainer.data.procedural.ProceduralDataset;
import dev.distill.trainer.data.procedural.ProceduralExample;
import dev.distill.trainer.tokenize.Tokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/** Opens the data of a {@link DatasetSpec} as training and validation rows. */
public final class Datasets {

  /** The most held-out prompts kept for exact-match evaluation. */
  public static final int MAX_HELD_OUT = 1000;

  /** The built-in procedural dataset, one of the spec's {@link Catalog#DATASETS}. */
  public static final String PROCEDURAL = "builtin:procedural";

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Datasets.class);

  private Datasets() {}

  /**
   * Reads (streaming), renders, tokenizes, splits, truncates and optionally packs the spec's data.
   *
   * <ul>
   *   <li>{@code builtin:procedural}: {@code num_examples} tasks generated from {@code seed}.
   *   <li>{@code file:PATH} (or a plain path): a file in {@code format}.
   *   <li>{@code job:<uuid>} is resolved by the worker to a file before calling this; here it is an
   *       error.
   * </ul>
   *
   * @throws IllegalArgumentException naming the field, file or line when the data cannot be opened
   */
  public static DatasetSplits open(DatasetSpec spec, Tokenizer tokenizer) {
    if (spec.isMix()) {
      return openMix(spec, tokenizer);
    }
    PromptTemplate template = PromptTemplate.of(spec.template());
    Split split = new Split(spec.validationFraction(), spec.seed());
    SequenceBuilder train =
        new SequenceBuilder(
            tokenizer, template, spec.maxSeqLen(), spec.maskPrompt(), spec.packing());
    SequenceBuilder validation =
        new SequenceBuilder(
            tokenizer, template, spec.maxSeqLen(), spec.maskPrompt(), spec.packing());
    List<EvalPrompt> heldOut = new ArrayList<>();
    Map<String, SequenceBuilder> groups = new LinkedHashMap<>();
    String uri = spec.uri();
    if (uri == null || uri.isBlank()) {
      throw new IllegalArgumentException("dataset uri is missing");
    }
    if (uri.equals(PROCEDURAL)) {
      List<ProceduralExample> generated =
          ProceduralDataset.generate(spec.numExamples(), spec.seed());
      for (int i = 0; i < generated.size(); i++) {
        ProceduralExample p = generated.get(i);
        Example e = p.toExample();
        if (ProceduralDataset.isValidation(split, p, i)) {
          validation.add(e);
          groups
              .computeIfAbsent(
                  p.unique() ? DatasetSplits.UNIQUE : DatasetSplits.SEVERAL,
                  g ->
                      new SequenceBuilder(
                          tokenizer, template, spec.maxSeqLen(), spec.maskPrompt(), false))
              .add(e);
          if (heldOut.size() < MAX_HELD_OUT) {
            heldOut.add(
                new EvalPrompt(
                    template.generationPrompt(p.prompt(), tokenizer.bosToken()),
                    p.validAnswers(),
                    p.unique(),
                    p.task()));
          }
        } else {
          train.add(e);
        }
      }
    } else if (uri.startsWith("builtin:")) {
      throw new IllegalArgumentException(
          "uri: unknown built-in dataset '" + uri + "', expected one of " + Catalog.DATASETS);
    } else if (uri.startsWith("job:")) {
      throw new IllegalArgumentException(
          "uri: '" + uri + "' must be resolved to the synthesize job's output file by the worker");
    } else {
      Path file = Path.of(uri.startsWith("file:") ? uri.substring("file:".length()) : uri);
      Consumer<Example> sink =
          e -> {
            if (split.isValidation(e)) {
              validation.add(e);
              if (heldOut.size() < MAX_HELD_OUT && e instanceof Example.Chat chat) {
                heldOutOf(chat, template, tokenizer).ifPresent(heldOut::add);
              }
            } else {
              train.add(e);
            }
          };
      ExampleReader.read(file, spec.format(), sink);
    }
    DatasetSplits out =
        new DatasetSplits(
            train.rows(),
            validation.rows(),
            train.stats(),
            validation.stats(),
            template,
            heldOut,
            groupRows(groups));
    for (var e :
        Map.of("train", out.trainStats(), "validation", out.validationStats()).entrySet()) {
      DataStats st = e.getValue();
      if (st.truncated() > 0 || st.dropped() > 0) {
        LOG.warn("{} data {}: {}", e.getKey(), uri, st.summary());
      } else {
        LOG.info("{} data {}: {}", e.getKey(), uri, st.summary());
      }
    }
    return out;
  }

  /**
   * Each source of a mix opened as its own dataset (the spec's other fields apply to each); the
   * training rows are the sources' in order, the validation rows likewise, each source's validation
   * rows are a validation group under its name.
   */
  private static DatasetSplits openMix(DatasetSpec spec, Tokenizer tokenizer) {
    List<Sequence> train = new ArrayList<>();
    List<Sequence> validation = new ArrayList<>();
    List<EvalPrompt> heldOut = new ArrayList<>();
    Map<String, List<Sequence>> groups = new TreeMap<>();
    List<String> names = new ArrayList<>();
    List<List<Sequence>> perSource = new ArrayList<>();
    double[] weights = new double[spec.mix().size()];
    DataStats trainStats = null;
    DataStats validationStats = null;
    PromptTemplate template = null;
    for (int i = 0; i < spec.mix().size(); i++) {
      var source = spec.mix().get(i);
      DatasetSplits one;
      try {
        one = open(spec.withSource(source.uri(), source.format()), tokenizer);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("mix[" + i + "]: " + e.getMessage(), e);
      }
      if (one.train().isEmpty()) {
        throw new IllegalArgumentException(
            "mix[" + i + "]: " + source.uri() + " has no training examples");
      }
      names.add(spec.sourceName(i));
      weights[i] = source.weight();
      perSource.add(one.train());
      train.addAll(one.train());
      validation.addAll(one.validation());
      if (!one.validation().isEmpty()) {
        groups.put(spec.sourceName(i), one.validation());
      }
      for (EvalPrompt p : one.heldOut()) {
        if (heldOut.size() < MAX_HELD_OUT) {
          heldOut.add(p);
        }
      }
      trainStats = trainStats == null ? one.trainStats() : trainStats.plus(one.trainStats());
      validationStats =
          validationStats == null
              ? one.validationStats()
              : validationStats.plus(one.validationStats());
      template = one.template();
    }
    return new DatasetSplits(
        train,
        validation,
        trainStats,
        validationStats,
        template,
        heldOut,
        Collections.unmodifiableMap(groups),
        new DatasetSplits.Mix(List.copyOf(names), weights, List.copyOf(perSource)));
  }

  /**
   * The evaluation set of a spec as records, in order: the held-out share (every example with
   * {@code validation_fraction} 1) of conversations that end with an assistant turn, at most {@code
   * limit}. The same examples as the validation rows of {@link #open}.
   */
  public static List<EvalRecord> evaluationRecords(DatasetSpec spec, int limit) {
    if (spec.isMix()) {
      List<EvalRecord> out = new ArrayList<>();
      for (var source : spec.mix()) {
        for (EvalRecord r :
            evaluationRecords(spec.withSource(source.uri(), source.format()), limit - out.size())) {
          out.add(new EvalRecord(out.size(), r.example(), r.record()));
        }
      }
      return out;
    }
    Split split = new Split(spec.validationFraction(), spec.seed());
    List<EvalRecord> out = new ArrayList<>();
    String uri = spec.uri();
    if (uri.equals(PROCEDURAL)) {
      List<ProceduralExample> generated =
          ProceduralDataset.generate(spec.numExamples(), spec.seed());
      for (int i = 0; i < generated.size() && out.size() < limit; i++) {
        if (ProceduralDataset.isValidation(split, generated.get(i), i)) {
          out.add(new EvalRecord(out.size(), generated.get(i).toExample(), null));
        }
      }
      return out;
    }
    if (uri.startsWith("builtin:") || uri.startsWith("job:")) {
      throw new IllegalArgumentException("uri: '" + uri + "' is not a data file");
    }
    Path file = Path.of(uri.startsWith("file:") ? uri.substring("file:".length()) : uri);
    ExampleReader.readRecords(
        file,
        spec.format(),
        (e, record) -> {
          if (out.size() < limit
              && e instanceof Example.Chat chat
              && chat.messages().size() > 1
              && chat.messages().get(chat.messages().size() - 1).isAssistant()
              && split.isValidation(e)) {
            out.add(new EvalRecord(out.size(), chat, record));
          }
        });
    return out;
  }

  /** The conversation up to its last assistant turn as a prompt, that turn as the reference. */
  private static java.util.Optional<EvalPrompt> heldOutOf(
      Example.Chat chat, PromptTemplate template, Tokenizer tokenizer) {
    List<Message> m = chat.messages();
    int last = m.size() - 1;
    if (!m.get(last).role().equals("assistant") || last == 0) {
      return java.util.Optional.empty();
    }
    String prompt =
        template.generationPrompt(
            new Example.Chat(m.subList(0, last), chat.input()), tokenizer.bosToken());
    return java.util.Optional.of(
        new EvalPrompt(prompt, List.of(m.get(last).content().strip()), true, "file"));
  }

  private static Map<String, List<Sequence>> groupRows(Map<String, SequenceBuilder> groups) {
    Map<String, List<Sequence>> out = new TreeMap<>();
    groups.forEach((name, builder) -> out.put(name, builder.rows()));
    return Collections.unmodifiableMap(out);
  }
}
