package dev.distill.trainer.loss;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.distill.trainer.model.CausalLm;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * A test-only causal LM on real tensors: hidden = tanh(E[ids]) * (1 + w), logits = hidden H^T.
 * Enough to have a trunk (E, w) and a head (H) whose gradients the chunked loss must get right.
 */
public final class TinyLm implements CausalLm {

  private final int vocab;
  private final NDArray embed; // (V, D)
  private final NDArray norm; // (D)
  private final NDArray head; // (V, D)
  private final NDArray one; // ()
  private final Map<String, NDArray> parameters = new LinkedHashMap<>();

  /** The most positions {@link #logits} was ever given at once (rows times positions). */
  long widestLogits;

  /** All positions {@link #logits} was given, summed over its calls. */
  long logitPositions;

  public TinyLm(NDManager manager, int vocab, int dim, long seed, boolean trainable) {
    this.vocab = vocab;
    Random r = new Random(seed);
    embed = manager.create(randoms(r, vocab * dim, 1.0), new Shape(vocab, dim));
    norm = manager.create(randoms(r, dim, 0.2), new Shape(dim));
    head = manager.create(randoms(r, vocab * dim, 1.5), new Shape(vocab, dim));
    one = manager.full(new Shape(), 1f, DataType.FLOAT32);
    parameters.put("model.embed_tokens.weight", embed);
    parameters.put("model.norm.weight", norm);
    parameters.put("lm_head.weight", head);
    if (trainable) {
      parameters.values().forEach(p -> p.setRequiresGradient(true));
    }
  }

  private static float[] randoms(Random r, int n, double scale) {
    float[] out = new float[n];
    for (int i = 0; i < n; i++) {
      out[i] = (float) (r.nextGaussian() * scale);
    }
    return out;
  }

  /**
   * @param inputIds (B, T) int64
   * @return (B, T, D)
   */
  @Override
  public NDArray hidden(NDArray inputIds, NDArray attentionMask) {
    NDArray rows = embed.get(inputIds); // (B, T, D): advanced indexing along the vocabulary axis
    return rows.tanh().mul(norm.add(one));
  }

  /**
   * @param hidden (B, t, D)
   * @return (B, t, V)
   */
  @Override
  public NDArray logits(NDArray hidden) {
    Shape shape = hidden.getShape();
    long positions = shape.size() / shape.get(shape.dimension() - 1);
    widestLogits = Math.max(widestLogits, positions);
    logitPositions += positions;
    return hidden.matMul(head.transpose());
  }

  @Override
  public int vocabSize() {
    return vocab;
  }

  @Override
  public Map<String, NDArray> parameters() {
    return parameters;
  }

  /** The gradients by name, copied; then zeroed. */
  public Map<String, float[]> takeGradients() {
    Map<String, float[]> out = new LinkedHashMap<>();
    for (Map.Entry<String, NDArray> e : parameters.entrySet()) {
      try (NDArray g = e.getValue().getGradient()) {
        out.put(e.getKey(), g.toFloatArray());
      }
      JniUtils.zeroGrad((PtNDArray) e.getValue());
    }
    return out;
  }
}
