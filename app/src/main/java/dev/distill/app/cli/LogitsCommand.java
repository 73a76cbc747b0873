package dev.distill.app.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.distill.trainer.generate.*;
import dev.distill.trainer.model.NoGrad;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code distill logits --model DIR --tokens 2,17,45}: the log-sum-exp and the top logits of every
 * position, as JSON on stdout, for parity checks against any other implementation.
 */
@Command(
    name = "logits",
    description =
        "Print the logsumexp and top logits of each position of a token sequence as JSON.")
public final class LogitsCommand implements Callable<Integer> {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--model",
      required = true,
      description = "A Hugging Face Gemma2ForCausalLM directory.")
  Path model;

  @Option(
      names = "--tokens",
      required = true,
      description = "Comma-separated token ids, e.g. 2,17,45.")
  String tokens;

  @Option(
      names = "--top",
      defaultValue = "5",
      description = "How many top logits per position (default 5).")
  int top;

  @Override
  public Integer call() {
    long[] ids = parseTokens(tokens);
    if (top <= 0) {
      throw new IllegalArgumentException("--top=" + top + " must be positive");
    }
    if (!Files.isDirectory(model)) {
      throw new IllegalArgumentException("--model " + model + ": not a directory");
    }
    try (NoGrad noGrad = NoGrad.enter();
        NDManager manager = NDManager.newBaseManager();
        Gemma2Model lm = Gemma2Model.load(model, manager)) {
      for (long id : ids) {
        if (id >= lm.vocabSize()) {
          throw new IllegalArgumentException(
              "--tokens: id " + id + " is outside the vocabulary of " + lm.vocabSize());
        }
      }
      NDArray input = manager.create(ids, new Shape(1, ids.length)); // (1, T)
      float[] logits = lm.forward(input, null).toFloatArray(); // (1, T, V) flat
      Map<String, Object> json =
          Map.of("positions", positions(logits, ids.length, lm.vocabSize(), top));
      PrintWriter out = spec.commandLine().getOut();
      out.println(JsonMapper.builder().build().writeValueAsString(json));
      out.flush();
      return 0;
    }
  }

  static long[] parseTokens(String text) {
    String[] parts = text.split(",", -1);
    long[] ids = new long[parts.length];
    for (int i = 0; i < parts.length; i++) {
      try {
        ids[i] = Long.parseLong(parts[i].trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("--tokens: '" + parts[i] + "' is not a token id");
      }
      if (ids[i] < 0) {
        throw new IllegalArgumentException("--tokens: id " + ids[i] + " is negative");
      }
    }
    return ids;
  }

  /**
   * Per position: logsumexp over V and the top k (id, logit), highest first (ties: lower id first).
   */
  static List<Map<String, Object>> positions(float[] logits, int t, int v, int k) {
    List<Map<String, Object>> positions = new ArrayList<>();
    for (int p = 0; p < t; p++) {
      int base = p * v;
      double max = Double.NEGATIVE_INFINITY;
      for (int i = 0; i < v; i++) {
        max = Math.max(max, logits[base + i]);
      }
      double sum = 0;
      for (int i = 0; i < v; i++) {
        sum += Math.exp(logits[base + i] - max);
      }
      int[] top =
          topK(logits, base, v, Math.min(k, v)); // one pass, no sort over V (256k for Gemma)
      List<Map<String, Object>> topList = new ArrayList<>();
      for (int i = 0; i < top.length; i++) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("id", top[i]);
        e.put("logit", (double) logits[base + top[i]]);
        topList.add(e);
      }
      Map<String, Object> pos = new LinkedHashMap<>();
      pos.put("logsumexp", max + Math.log(sum));
      pos.put("top", topList);
      positions.add(pos);
    }
    return positions;
  }

  /**
   * The ids of the k largest of logits[base .. base + v), highest first, lower id first on ties.
   */
  static int[] topK(float[] logits, int base, int v, int k) {
    int[] top = new int[k];
    int n = 0;
    for (int i = 0; i < v; i++) {
      float x = logits[base + i];
      if (n == k && x <= logits[base + top[k - 1]]) {
        continue; // not above the current k-th (ties keep the lower id already held)
      }
      int at = n == k ? k - 1 : n++;
      while (at > 0 && logits[base + top[at - 1]] < x) {
        top[at] = top[at - 1];
        at--;
      }
      top[at] = i;
    }
    return top;
  }
}
