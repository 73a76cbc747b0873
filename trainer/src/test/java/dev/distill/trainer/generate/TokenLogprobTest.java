package dev.distill.trainer.generate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Log-probabilities and top alternatives of one position, against values computed by hand. */
class TokenLogprobTest {

  @Test
  void logprobsAreTheLogSoftmaxOfTheLogits() {
    // probabilities 0.5, 0.3, 0.2 written as logits shifted by +7 (log_softmax ignores the shift)
    float[] logits = {
      (float) (Math.log(0.5) + 7), (float) (Math.log(0.3) + 7), (float) (Math.log(0.2) + 7)
    };
    TokenLogprob lp = TokenLogprob.of(logits, 1, 2);
    assertThat(lp.id()).isEqualTo(1);
    assertThat(lp.logprob()).isCloseTo(Math.log(0.3), within(1e-6));
    assertThat(lp.top()).extracting(TokenLogprob.Alternative::id).containsExactly(0, 1);
    assertThat(lp.top().get(0).logprob()).isCloseTo(Math.log(0.5), within(1e-6));
    assertThat(lp.top().get(1).logprob()).isCloseTo(Math.log(0.3), within(1e-6));
  }

  @Test
  void hugeLogitsDoNotOverflow() {
    // exp(1000) overflows a double; log_softmax of (1000, 1000) is (ln 1/2, ln 1/2)
    TokenLogprob lp = TokenLogprob.of(new float[] {1000f, 1000f}, 0, 0);
    assertThat(lp.logprob()).isCloseTo(Math.log(0.5), within(1e-9));
    assertThat(lp.top()).isEmpty();
  }

  @Test
  void tiesListTheLowerIdFirst() {
    TokenLogprob lp = TokenLogprob.of(new float[] {0f, 2f, 2f, 1f}, 3, 3);
    assertThat(lp.top()).extracting(TokenLogprob.Alternative::id).containsExactly(1, 2, 3);
    // e^2 + e^2 + e + 1: the chosen id 3 has logit 1
    double lse = Math.log(2 * Math.exp(2) + Math.exp(1) + 1);
    assertThat(lp.logprob()).isCloseTo(1 - lse, within(1e-6));
    assertThat(lp.top().get(2)).isEqualTo(new TokenLogprob.Alternative(3, lp.logprob()));
  }

  @Test
  void badArgumentsAreNamed() {
    assertThatThrownBy(() -> TokenLogprob.of(new float[] {0f}, 1, 0))
        .hasMessageContaining("token id 1");
    assertThatThrownBy(() -> TokenLogprob.of(new float[] {0f}, 0, 2)).hasMessageContaining("k=2");
    assertThat(List.of(TokenLogprob.of(new float[] {3f}, 0, 1).logprob())).containsExactly(0.0);
  }
}
