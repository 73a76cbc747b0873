package dev.distill.trainer.loss;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distill.spec.Hyperparameters;
import org.junit.jupiter.api.Test;

class KdLossConfigTest {

  @Test
  void madeFromHyperparameters() {
    Hyperparameters h =
        new Hyperparameters(
            null, null, null, null, null, null, null, null, null, null, 2.0, 0.7, "JSD", 0.25, null,
            null, null, null, 64);
    KdLossConfig c = KdLossConfig.from(h, KdLossConfig.chunkSize(h.lossChunkSize(), 256_000));
    assertThat(c).isEqualTo(new KdLossConfig(KdKind.JSD, 2.0, 0.7, 0.25, 64));
    // without loss_chunk_size one chunk's logits hold about 2^24 values
    Hyperparameters defaults = Hyperparameters.defaults();
    assertThat(KdLossConfig.from(defaults, KdLossConfig.chunkSize(defaults.lossChunkSize(), 272)))
        .isEqualTo(new KdLossConfig(KdKind.FORWARD_KL, 1.0, 1.0, 0.5, 61_680));
    assertThat(KdLossConfig.chunkSize(null, 256_000)).isEqualTo(65);
    assertThat(KdLossConfig.chunkSize(null, 16_777_216 * 4)).isEqualTo(16);
    assertThat(KdLossConfig.chunkSize(32, 256_000)).isEqualTo(32);
  }

  @Test
  void messagesNameTheFieldAndTheValue() {
    assertThatThrownBy(() -> new KdLossConfig(KdKind.JSD, 0, 1, 0.5, 4))
        .hasMessageContaining("temperature")
        .hasMessageContaining("was 0.0");
    assertThatThrownBy(() -> new KdLossConfig(KdKind.JSD, 1, 1.5, 0.5, 4))
        .hasMessageContaining("kdRatio")
        .hasMessageContaining("was 1.5");
    assertThatThrownBy(() -> new KdLossConfig(KdKind.JSD, 1, 1, -0.1, 4))
        .hasMessageContaining("jsdBeta")
        .hasMessageContaining("was -0.1");
    assertThatThrownBy(() -> new KdLossConfig(KdKind.JSD, 1, 1, 0.5, 0))
        .hasMessageContaining("chunkSize")
        .hasMessageContaining("was 0");
    assertThatThrownBy(() -> new KdLossConfig(KdKind.JSD, Double.NaN, 1, 0.5, 4))
        .hasMessageContaining("temperature");
    assertThatThrownBy(() -> KdKind.fromSpecName("kl"))
        .hasMessageContaining("kd_loss")
        .hasMessageContaining("'kl'");
  }

  @Test
  void theSpecCatalogNamesExactlyTheseDivergences() {
    assertThat(java.util.Arrays.stream(KdKind.values()).map(KdKind::specName))
        .containsExactlyElementsOf(dev.distill.spec.Catalog.KD_LOSSES);
  }
}
