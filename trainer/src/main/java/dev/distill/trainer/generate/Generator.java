package dev.distill.trainer.generate;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import dev.distill.trainer.model.IncrementalLm;
import dev.distill.trainer.model.KvCache;
import dev.distill.trainer.model.NoGrad;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Generates continuations of one prompt at a time with a KV cache: the prompt is run once, then one
 * token per step. Runs with gradients off; every step is scoped, so nothing but the cache outlives
 * it.
 */
public final class Generator {

  private final IncrementalLm model;
  private final NDManager manager;
  private final int maxPositions;

  /**
   * @param model the model
   * @param manager where input arrays are made (its device must be the model's)
   * @param maxPositions the context length (max_position_embeddings); generation stops there
   */
  public Generator(IncrementalLm model, NDManager manager, int maxPositions) {
    this.model = model;
    this.manager = manager;
    this.maxPositions = maxPositions;
  }

  /**
   * Generates after a prompt.
   *
   * @param prompt token ids, at least one
   * @param options greedy or sampling, limits and stops
   * @param decode ids to text, needed for stop strings (may be null without them)
   */
  public Generation generate(
      List<Integer> prompt, GenerationOptions options, Function<List<Integer>, String> decode) {
    return generate(prompt, options, decode, 0, null);
  }

  /**
   * Generates after a prompt, telling a listener each new token as it is chosen (for streaming)
   * with its log-probability and the top alternatives ({@link TokenLogprob}). A stop token id is
   * not told, as it is not part of the output.
   *
   * @param prompt token ids, at least one
   * @param options greedy or sampling, limits and stops
   * @param decode ids to text, needed for stop strings (may be null without them)
   * @param topLogprobs how many alternatives each {@link TokenLogprob} lists (0 for none)
   * @param onToken called with each new token before the stop strings are checked; null for none
   */
  public Generation generate(
      List<Integer> prompt,
      GenerationOptions options,
      Function<List<Integer>, String> decode,
      int topLogprobs,
      Consumer<TokenLogprob> onToken) {
    if (topLogprobs < 0) {
      throw new IllegalArgumentException("topLogprobs=" + topLogprobs + " must be >= 0");
    }
    if (prompt.isEmpty()) {
      throw new IllegalArgumentException("the prompt must hold at least one token");
    }
    if (!options.stopStrings().isEmpty() && decode == null) {
      throw new IllegalArgumentException("stop strings need a decode function");
    }
    if (prompt.size() >= maxPositions) {
      throw new IllegalArgumentException(
          "the prompt of "
              + prompt.size()
              + " tokens fills the context of "
              + maxPositions
              + " positions");
    }
    SplittableRandom rnd = new SplittableRandom(options.seed());
    List<Integer> out = new ArrayList<>();
    try (NoGrad noGrad = NoGrad.enter();
        KvCache cache = model.newCache()) {
      float[] logits = step(prompt, cache); // logits of the last prompt position
      while (true) {
        int next = options.isGreedy() ? argmax(logits) : sample(logits, options, rnd);
        if (options.stopTokenIds().contains(next)) {
          return new Generation(
              out, decode == null ? null : decode.apply(out), Generation.StopReason.STOP_TOKEN);
        }
        out.add(next);
        if (onToken != null) {
          onToken.accept(TokenLogprob.of(logits, next, Math.min(topLogprobs, logits.length)));
        }
        if (decode != null) {
          String text = decode.apply(out);
          int cut = firstStop(text, options.stopStrings());
          if (cut >= 0) {
            return new Generation(out, text.substring(0, cut), Generation.StopReason.STOP_STRING);
          }
        }
        if (out.size() >= options.maxNewTokens()) {
          return new Generation(
              out, decode == null ? null : decode.apply(out), Generation.StopReason.MAX_TOKENS);
        }
        if (cache.length() + 1 >= maxPositions) {
          return new Generation(
              out, decode == null ? null : decode.apply(out), Generation.StopReason.CONTEXT_FULL);
        }
        logits = step(List.of(next), cache);
      }
    }
  }

  /** Runs new tokens through the model and returns the logits of the last one. */
  private float[] step(List<Integer> tokens, KvCache cache) {
    try (NDScope scope = new NDScope()) {
      long[] ids = tokens.stream().mapToLong(Integer::longValue).toArray();
      NDArray input = manager.create(ids, new Shape(1, ids.length)); // (1, t)
      NDArray logits = model.forwardCached(input, cache); // (1, t, V)
      return logits.get(0, ids.length - 1).toFloatArray(); // (V)
    }
  }

  static int argmax(float[] logits) {
    int best = 0;
    for (int i = 1; i < logits.length; i++) {
      if (logits[i] > logits[best]) {
        best = i;
      }
    }
    return best;
  }

  /** Samples from softmax(logits / temperature) restricted to the top-p nucleus. */
  static int sample(float[] logits, GenerationOptions o, SplittableRandom rnd) {
    int v = logits.length;
    double max = Double.NEGATIVE_INFINITY;
    for (float l : logits) {
      max = Math.max(max, l / o.temperature());
    }
    double[] p = new double[v];
    double sum = 0;
    for (int i = 0; i < v; i++) {
      p[i] = Math.exp(logits[i] / o.temperature() - max);
      sum += p[i];
    }
    for (int i = 0; i < v; i++) {
      p[i] /= sum;
    }
    if (o.topP() >= 1) { // no nucleus: sample from everything, no sort over V
      double r = rnd.nextDouble();
      double acc = 0;
      for (int i = 0; i < v; i++) {
        acc += p[i];
        if (r < acc) {
          return i;
        }
      }
      return v - 1;
    }
    Integer[] order = new Integer[v];
    for (int i = 0; i < v; i++) {
      order[i] = i;
    }
    Arrays.sort(
        order, (a, b) -> a.equals(b) ? 0 : p[b] != p[a] ? Double.compare(p[b], p[a]) : a - b);
    int keep = 0;
    double mass = 0;
    while (keep < v && (keep == 0 || mass < o.topP())) {
      mass += p[order[keep]];
      keep++;
    }
    double r = rnd.nextDouble() * mass;
    double acc = 0;
    for (int k = 0; k < keep; k++) {
      acc += p[order[k]];
      if (r < acc) {
        return order[k];
      }
    }
    return order[keep - 1];
  }

  private static int firstStop(String text, List<String> stops) {
    int cut = -1;
    for (String s : stops) {
      int at = text.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) {
        cut = at;
      }
    }
    return cut;
  }
}
