package dev.distill.trainer.generate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.distill.trainer.model.NoGrad;
import dev.distill.trainer.model.gemma2.Gemma2Config;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.model.gemma2.Gemma2WeightNames;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class GeneratorTest {

  static NDManager manager;
  static Gemma2Model model;

  @BeforeAll
  static void setUp() {
    manager = NDManager.newBaseManager();
    Gemma2Config c =
        Gemma2Config.preset("gemma2-tiny")
            .withOverrides(
                Map.of(
                    "vocab_size",
                    40,
                    "hidden_size",
                    32,
                    "sliding_window",
                    3,
                    "head_dim",
                    8,
                    "query_pre_attn_scalar",
                    8,
                    "intermediate_size",
                    64,
                    "num_hidden_layers",
                    3));
    model = Gemma2Model.init(c, manager, 22);
    NDArray factor = manager.full(new Shape(), 2f);
    try (NoGrad ignored = NoGrad.enter()) { // in place on leaves that require a gradient
      for (var e : model.parameters().entrySet()) {
        if (!Gemma2WeightNames.isNorm(e.getKey())) {
          e.getValue()
              .muli(factor); // random weights big enough for varied, non-trivial continuations
        }
      }
    }
  }

  @AfterAll
  static void tearDown() {
    model.close();
    manager.close();
  }

  /** Greedy decoding by recomputing the whole sequence every step, no cache. */
  static List<Integer> greedyWithoutCache(List<Integer> prompt, int n) {
    List<Integer> seq = new ArrayList<>(prompt);
    List<Integer> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      try (NDManager m = manager.newSubManager()) {
        long[] ids = seq.stream().mapToLong(Integer::longValue).toArray();
        float[] logits =
            model.forward(m.create(ids, new Shape(1, ids.length)), null).toFloatArray();
        int v = model.vocabSize();
        int best = 0;
        for (int k = 1; k < v; k++) {
          if (logits[(ids.length - 1) * v + k] > logits[(ids.length - 1) * v + best]) {
            best = k;
          }
        }
        seq.add(best);
        out.add(best);
      }
    }
    return out;
  }

  static final Function<List<Integer>, String> DECODE =
      ids ->
          ids.stream().map(i -> Character.toString('a' + (i % 26))).collect(Collectors.joining());

  @Test
  void kvCachedGreedyEqualsRecomputingEveryStep() {
    List<Integer> prompt = List.of(2, 17, 5, 9);
    Generator g = new Generator(model, manager, 2048);
    Generation gen = g.generate(prompt, GenerationOptions.greedy(12, Set.of()), null);
    assertThat(gen.stopReason()).isEqualTo(Generation.StopReason.MAX_TOKENS);
    assertThat(gen.tokens()).hasSize(12).isEqualTo(greedyWithoutCache(prompt, 12));
    assertThat(Set.copyOf(gen.tokens())).hasSizeGreaterThan(1); // not a degenerate repetition
  }

  @Test
  void stopsAtAStopTokenWithoutEmittingIt() {
    List<Integer> prompt = List.of(2, 17, 5, 9);
    List<Integer> free = greedyWithoutCache(prompt, 12);
    int stop = free.get(5);
    int firstAt = free.indexOf(stop);
    Generation gen =
        new Generator(model, manager, 2048)
            .generate(prompt, GenerationOptions.greedy(12, Set.of(stop)), DECODE);
    assertThat(gen.stopReason()).isEqualTo(Generation.StopReason.STOP_TOKEN);
    assertThat(gen.tokens()).isEqualTo(free.subList(0, firstAt));
    assertThat(gen.text()).isEqualTo(DECODE.apply(free.subList(0, firstAt)));
  }

  @Test
  void stopsAtAStopStringAndCutsTheTextBeforeIt() {
    List<Integer> prompt = List.of(2, 17, 5, 9);
    List<Integer> free = greedyWithoutCache(prompt, 12);
    String full = DECODE.apply(free);
    String stop = full.substring(4, 6);
    int at = full.indexOf(stop);
    Generation gen =
        new Generator(model, manager, 2048)
            .generate(
                prompt,
                GenerationOptions.greedy(12, Set.of()).withStopStrings(List.of(stop)),
                DECODE);
    assertThat(gen.stopReason()).isEqualTo(Generation.StopReason.STOP_STRING);
    assertThat(gen.text()).isEqualTo(full.substring(0, at));
    assertThat(gen.tokens()).isEqualTo(free.subList(0, at + stop.length()));
  }

  @Test
  void samplingIsReproducibleInTheSeedAndVariesAcrossSeeds() {
    List<Integer> prompt = List.of(2, 3);
    Generator g = new Generator(model, manager, 2048);
    GenerationOptions o1 = new GenerationOptions(10, 1.5, 0.95, 1, Set.of(), List.of());
    GenerationOptions o2 = new GenerationOptions(10, 1.5, 0.95, 2, Set.of(), List.of());
    List<Integer> a = g.generate(prompt, o1, null).tokens();
    assertThat(g.generate(prompt, o1, null).tokens()).isEqualTo(a);
    assertThat(g.generate(prompt, o2, null).tokens()).isNotEqualTo(a);
  }

  @Test
  void topPKeepsTheSmallestNucleus() {
    // probabilities 0.5, 0.3, 0.15, 0.05 (logits are their logs): top-p 0.7 keeps only ids 0 and 1
    float[] logits = {
      (float) Math.log(0.5), (float) Math.log(0.3), (float) Math.log(0.15), (float) Math.log(0.05)
    };
    GenerationOptions o = new GenerationOptions(1, 1.0, 0.7, 0, Set.of(), List.of());
    SplittableRandom rnd = new SplittableRandom(5);
    int[] counts = new int[4];
    for (int i = 0; i < 4000; i++) {
      counts[Generator.sample(logits, o, rnd)]++;
    }
    assertThat(counts[2] + counts[3]).isZero();
    assertThat(counts[0] / 4000.0).isBetween(0.57, 0.68); // 0.5 / 0.8
    GenerationOptions tiny = new GenerationOptions(1, 1.0, 0.01, 0, Set.of(), List.of());
    assertThat(Generator.sample(logits, tiny, rnd)).isZero(); // always keeps at least the top token
  }

  @Test
  void samplingWithoutANucleusFollowsTheTemperedDistribution() {
    // logits ln(0.5), ln(0.25), ln(0.25) at temperature 1; at temperature 0.5 they become 2/3, 1/6,
    // 1/6
    float[] logits = {(float) Math.log(0.5), (float) Math.log(0.25), (float) Math.log(0.25)};
    SplittableRandom rnd = new SplittableRandom(9);
    int[] t1 = new int[3];
    int[] t05 = new int[3];
    for (int i = 0; i < 6000; i++) {
      t1[
          Generator.sample(
              logits, new GenerationOptions(1, 1.0, 1.0, 0, Set.of(), List.of()), rnd)]++;
      t05[
          Generator.sample(
              logits, new GenerationOptions(1, 0.5, 1.0, 0, Set.of(), List.of()), rnd)]++;
    }
    assertThat(t1[0] / 6000.0).isBetween(0.47, 0.53);
    assertThat(t05[0] / 6000.0).isBetween(0.63, 0.70);
    assertThat(t05[1] / 6000.0).isBetween(0.14, 0.19);
  }

  @Test
  void listenerHearsEachTokenWithTheLogSoftmaxOfAFullForward() {
    List<Integer> prompt = List.of(2, 17, 5, 9);
    List<TokenLogprob> heard = new ArrayList<>();
    Generation gen =
        new Generator(model, manager, 2048)
            .generate(prompt, GenerationOptions.greedy(6, Set.of()), null, 3, heard::add);
    assertThat(heard).extracting(TokenLogprob::id).isEqualTo(gen.tokens());
    // independent: DJL's logSoftmax over the whole sequence, no cache
    List<Integer> seq = new ArrayList<>(prompt);
    seq.addAll(gen.tokens());
    int v = model.vocabSize();
    try (NDManager m = manager.newSubManager()) {
      long[] ids = seq.stream().mapToLong(Integer::longValue).toArray();
      float[] logp =
          model
              .forward(m.create(ids, new Shape(1, ids.length)), null)
              .logSoftmax(-1)
              .toFloatArray(); // (1, T, V) flat
      for (int i = 0; i < heard.size(); i++) {
        int pos = prompt.size() - 1 + i; // the position that predicts output token i
        TokenLogprob lp = heard.get(i);
        assertThat(lp.logprob()).isCloseTo(logp[pos * v + lp.id()], within(1e-4));
        assertThat(lp.top()).hasSize(3);
        assertThat(lp.top().get(0).id()).isEqualTo(lp.id()); // greedy picks the top one
        for (TokenLogprob.Alternative a : lp.top()) {
          assertThat(a.logprob()).isCloseTo(logp[pos * v + a.id()], within(1e-4));
          assertThat(a.logprob()).isLessThanOrEqualTo(lp.top().get(0).logprob());
        }
      }
    }
  }

  @Test
  void aListenerDoesNotChangeWhatIsSampled() {
    List<Integer> prompt = List.of(2, 3);
    Generator g = new Generator(model, manager, 2048);
    GenerationOptions o = new GenerationOptions(10, 1.5, 0.9, 4, Set.of(), List.of());
    List<TokenLogprob> heard = new ArrayList<>();
    Generation with = g.generate(prompt, o, null, 0, heard::add);
    assertThat(with.tokens()).isEqualTo(g.generate(prompt, o, null).tokens());
    assertThat(heard).extracting(TokenLogprob::id).isEqualTo(with.tokens());
    assertThat(heard).allSatisfy(lp -> assertThat(lp.top()).isEmpty());
  }

  @Test
  void badOptionsNameTheField() {
    assertThatThrownBy(() -> new GenerationOptions(0, 0, 1, 0, Set.of(), List.of()))
        .hasMessageContaining("maxNewTokens=0");
    assertThatThrownBy(() -> new GenerationOptions(5, -1, 1, 0, Set.of(), List.of()))
        .hasMessageContaining("temperature=-1");
    assertThatThrownBy(() -> new GenerationOptions(5, 1, 0, 0, Set.of(), List.of()))
        .hasMessageContaining("topP=0");
    Generator g = new Generator(model, manager, 2048);
    assertThatThrownBy(() -> g.generate(List.of(), GenerationOptions.greedy(3, Set.of()), null))
        .hasMessageContaining("prompt");
  }
}
