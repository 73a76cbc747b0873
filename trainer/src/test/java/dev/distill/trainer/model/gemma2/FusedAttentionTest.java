package dev.distill.trainer.model.gemma2;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.distill.spec.plan.Precision;
import dev.distill.trainer.fused.FusedOps;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
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

  static final double TOLERANCE = 5e-6; // relative to each tensor's largest value; seen: 7e-7
  static final double BF16_TOLERANCE = 0.05; // the same, 13 units of bf16's 2^-8; seen: 0.023

  private static Gemma2Config uncapped() {
    Map<String, Object> o = new HashMap<>();
    o.put("attn_logit_softcapping", null);
    o.put("vocab_size", 64);
    o.put("sliding_window", 8);
    return Gemma2Config.preset("gemma2-tiny").withOverrides(o);
  }

  /** Logits then the gradient of each parameter of sum(logits * r). */
  private static Map<String, float[]> run(boolean fused, boolean padded, Precision precision) {
    String before = System.getProperty(FusedOps.PROPERTY);
    System.setProperty(FusedOps.PROPERTY, Boolean.toString(fused));
    try (NDManager m = NDManager.newBaseManager();
        Gemma2Model model = Gemma2Model.init(uncapped(), m, 3, precision);
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
    assertClose(run(true, padded, Precision.FP32), run(false, padded, Precision.FP32), TOLERANCE);
  }

  /**
   * The same in bf16-mixed: sdpa_bf16 against matmul_bf16, fp32 softmax, matmul_bf16. The two round
   * differently (bf16 has 8 significant bits), so they agree to bf16's precision only.
   */
  @Test
  void inBf16MixedTooWithinBf16Rounding() {
    assertClose(
        run(true, true, Precision.BF16_MIXED),
        run(false, true, Precision.BF16_MIXED),
        BF16_TOLERANCE);
  }

  private static void assertClose(
      Map<String, float[]> fused, Map<String, float[]> composed, double tolerance) {
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
          .isLessThan(tolerance);
    }
  }
}
