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
    KdLossConfig c = KdLossConfig.from(h);
    assertThat(c).isEqualTo(new KdLossConfig(KdKind.JSD, 2.0, 0.7, 0.25, 64));
    assertThat(KdLossConfig.from(Hyperparameters.defaults()))
        .isEqualTo(new KdLossConfig(KdKind.FORWARD_KL, 1.0, 1.0, 0.5, 128));
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
}
