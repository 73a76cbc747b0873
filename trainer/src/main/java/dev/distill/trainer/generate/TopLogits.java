package dev.distill.trainer.generate;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The log-sum-exp and the top logits of each position of a forward pass, for parity checks against
 * any other implementation ({@code distill logits}).
 */
public final class TopLogits {

  private TopLogits() {}

  /**
   * Per position: logsumexp over V and the top k (id, logit), highest first (ties: lower id first).
   */
  public static List<Map<String, Object>> positions(float[] logits, int t, int v, int k) {
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
  public static int[] topK(float[] logits, int base, int v, int k) {
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
