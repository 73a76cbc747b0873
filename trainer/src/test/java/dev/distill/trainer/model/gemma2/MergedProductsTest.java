package dev.distill.trainer.model.gemma2;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.distill.trainer.fused.FusedOps;
import dev.distill.trainer.model.NoGrad;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * fp32 layers run q/k/v as one product ({@link FusedOps#linear3}) and gate/up as one ({@link
 * FusedOps#gegluLinear}) with {@code -Ddistill.merged_products=true}; by default the seven
 * projections run separately. The two give the same logits and the same gradient of every parameter
 * (the input gradient of the merged q/k/v product sums its three parts inside one GEMM instead of
 * adding three results, so they agree to float rounding), and the merged path's logits are
 * bit-identical under NoGrad (a teacher's forward) and with autograd.
 */
class MergedProductsTest {

  static final double TOLERANCE = 1e-5; // relative to each tensor's largest value

  /** Logits then the gradient of each parameter of sum(logits * r), on a padded batch. */
  private static Map<String, float[]> run(boolean merged) {
    String before = System.getProperty(FusedOps.MERGED_PROPERTY);
    System.setProperty(FusedOps.MERGED_PROPERTY, Boolean.toString(merged));
    try (NDManager m = NDManager.newBaseManager();
        Gemma2Model model =
            Gemma2Model.init(
                Gemma2Config.preset("gemma2-tiny").withOverrides(Map.of("vocab_size", 64)), m, 3);
        GradientCollector collector = Engine.getInstance().newGradientCollector()) {
      model.requireGradients(true);
      long[] ids = new long[2 * 20];
      long[] mask = new long[2 * 20];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = (i * 13 + 5) % 64;
        mask[i] = i < 20 || i % 20 < 14 ? 1 : 0; // the second row right-padded after 14
      }
      NDArray x = m.create(ids, new Shape(2, 20));
      NDArray attention = m.create(mask, new Shape(2, 20));
      float[] noGrad;
      try (NoGrad ignored = NoGrad.enter()) {
        noGrad = model.forward(x, attention).toFloatArray();
      }
      NDArray logits = model.forward(x, attention); // (2, 20, V)
      NDArray r =
          m.arange(0f, (float) logits.size())
              .reshape(logits.getShape())
              .mul(1e-4f)
              .mul(attention.toType(DataType.FLOAT32, false).reshape(2, 20, 1));
      collector.backward(logits.mul(r).sum());
      Map<String, float[]> out = new LinkedHashMap<>();
      out.put("logits", logits.toFloatArray());
      out.put("logits without grad", noGrad);
      for (var e : model.parameters().entrySet()) {
        try (NDArray g = e.getValue().getGradient()) {
          out.put(e.getKey(), g.toFloatArray());
        }
      }
      return out;
    } finally {
      if (before == null) {
        System.clearProperty(FusedOps.MERGED_PROPERTY);
      } else {
        System.setProperty(FusedOps.MERGED_PROPERTY, before);
      }
    }
  }

  @Test
  void mergedProductsEqualSeparateProjections() {
    assertThat(FusedOps.mergedProducts()).as("off by default: fp32 stays bit for bit").isFalse();
    Map<String, float[]> merged = run(true);
    Map<String, float[]> separate = run(false);
    assertThat(merged.get("logits without grad")).isEqualTo(merged.get("logits"));
    assertThat(merged.keySet()).isEqualTo(separate.keySet());
    for (String name : merged.keySet()) {
      float[] a = merged.get(name);
      float[] b = separate.get(name);
      double scale = 0;
      double diff = 0;
      for (int i = 0; i < a.length; i++) {
        scale = Math.max(scale, Math.abs(b[i]));
        diff = Math.max(diff, Math.abs(a[i] - b[i]));
      }
      assertThat(scale).as("%s is not all zero", name).isGreaterThan(0);
      assertThat(diff / scale)
          .as("%s: max |merged - separate| / max |separate|", name)
          .isLessThan(TOLERANCE);
    }
  }
}
