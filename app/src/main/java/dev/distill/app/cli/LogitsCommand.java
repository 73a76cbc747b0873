package dev.distill.app.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.distill.trainer.generate.TopLogits;
import dev.distill.trainer.model.Devices;
import dev.distill.trainer.model.NoGrad;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
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

  @Option(names = "--device", description = "cpu (default), cuda or cuda:N.")
  String device = "cpu";

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
        NDManager manager = NDManager.newBaseManager(Devices.parse(device));
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
          Map.of("positions", TopLogits.positions(logits, ids.length, lm.vocabSize(), top));
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
}
