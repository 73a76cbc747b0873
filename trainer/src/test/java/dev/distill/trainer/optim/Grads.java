package dev.distill.trainer.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import java.util.LinkedHashMap;
import java.util.Map;

/** Test helpers: parameters with chosen gradients, made by back-propagating sum(p * c). */
final class Grads {

  private Grads() {}

  static Map<String, NDArray> params(NDManager m, Object... nameThenArray) {
    Map<String, NDArray> out = new LinkedHashMap<>();
    for (int i = 0; i < nameThenArray.length; i += 2) {
      NDArray p = (NDArray) nameThenArray[i + 1];
      p.setRequiresGradient(true);
      out.put((String) nameThenArray[i], p);
    }
    return out;
  }

  /**
   * Sets d/dp of sum over names of sum(p * c[name]) = c[name] as each parameter's gradient
   * (accumulating).
   */
  static void backward(NDManager m, Map<String, NDArray> params, Map<String, float[]> grads) {
    try (GradientCollector gc = m.getEngine().newGradientCollector()) {
      NDArray total = null;
      for (Map.Entry<String, float[]> e : grads.entrySet()) {
        NDArray p = params.get(e.getKey());
        NDArray c = m.create(e.getValue(), p.getShape());
        NDArray term = p.mul(c).sum();
        total = total == null ? term : total.add(term);
      }
      gc.backward(total);
    }
  }

  static float[] values(NDArray a) {
    return a.toFloatArray();
  }

  static float[] gradient(NDArray p) {
    try (NDArray g = p.getGradient()) {
      return g.toFloatArray();
    }
  }
}
