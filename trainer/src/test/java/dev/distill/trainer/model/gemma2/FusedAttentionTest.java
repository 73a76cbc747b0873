package dev.distill.trainer.model.gemma2;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.distill.trainer.fused.FusedOps;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * With {@code attn_logit_softcapping} null the model attends through torch's
 * scaled_dot_product_attention; with {@code -Ddistill.fused_ops=false} it composes matmul, mask,
 * softmax, matmul. The two agree on logits and on every parameter's gradient, with a sliding window
 * shorter than the sequence, without an attention mask (a (T, S) mask) and with padding (a (B, 1,
 * 1, T, S) mask; padding outside the loss, as in training).
 */
class FusedAttentionTest {

  static final double TOLERANCE = 2e-5; // relative to the largest value of each tensor

  private static Gemma2Config uncapped() {
    Map<String, Object> o = new HashMap<>();
    o.put("attn_logit_softcapping", null);
    o.put("vocab_size", 64);
    o.put("sliding_window", 8);
    return Gemma2Config.preset("gemma2-tiny").withOverrides(o);
  }

  /** Logits then the gradient of each parameter of sum(logits * r). */
  private static Map<String, float[]> run(boolean fused, boolean padded) {
    String before = System.getProperty(FusedOps.PROPERTY);
    System.setProperty(FusedOps.PROPERTY, Boolean.toString(fused));
    try (NDManager m = NDManager.newBaseManager();
        Gemma2Model model = Gemma2Model.init(uncapped(), m, 3);
        GradientCollector collector = Engine.getInstance().newGradientCollector()) {
      long[] ids = new long[2 * 20];
      long[] mask = new long[2 * 20];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = (i * 13 + 5) % 64;
        mask[i] =
            i < 20 || i % 20 < 14
                ? 1
                : 0; // the second row right-padded after 14 // the second row right-padded after 14
      }
      NDArray attention = m.create(mask, new Shape(2, 20));
      NDArray logits =
          model.forward(m.create(ids, new Shape(2, 20)), padded ? attention : null); // (2, 20, V)
      // weights of sum(logits * r), zero at padding as the loss's mask is: a padded query sees no
      // key at all, and there the two kernels' gradients differ (the row's scores are -1e9 + s,
      // where fp32 has lost s); nothing at a padded position ever reaches the loss
      NDArray r =
          m.arange(0f, (float) logits.size())
              .reshape(logits.getShape())
              .mul(1e-4f)
              .mul(
                  attention.toType(ai.djl.ndarray.types.DataType.FLOAT32, false).reshape(2, 20, 1));
      collector.backward(logits.mul(r).sum());
      Map<String, float[]> out = new LinkedHashMap<>();
      out.put("logits", logits.toFloatArray());
      for (var e : model.parameters().entrySet()) {
        try (NDArray g = e.getValue().getGradient()) {
          out.put(e.getKey(), g.toFloatArray());
        }
      }
      return out;
    } finally {
      if (before == null) {
        System.clearProperty(FusedOps.PROPERTY);
      } else {
        System.setProperty(FusedOps.PROPERTY, before);
      }
    }
  }

  @ParameterizedTest(name = "padded {0}")
  @ValueSource(booleans = {true, false})
  void fusedAttentionEqualsComposedWithTheCapOff(boolean padded) {
    assertThat(uncapped().attnLogitSoftcapping()).isNull();
    Map<String, float[]> fused = run(true, padded);
    Map<String, float[]> composed = run(false, padded);
    assertThat(fused.keySet()).isEqualTo(composed.keySet());
    for (String name : fused.keySet()) {
      float[] a = fused.get(name);
      float[] b = composed.get(name);
      double scale = 0;
      double diff = 0;
      for (int i = 0; i < a.length; i++) {
        scale = Math.max(scale, Math.abs(b[i]));
        diff = Math.max(diff, Math.abs(a[i] - b[i]));
      }
      assertThat(scale).as("%s is not all zero", name).isGreaterThan(0);
      assertThat(diff / scale)
          .as("%s: max |fused - composed| / max |composed|", name)
          .isLessThan(TOLERANCE);
    }
  }
}
