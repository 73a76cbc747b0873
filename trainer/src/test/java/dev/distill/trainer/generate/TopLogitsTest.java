package dev.distill.trainer.generate;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TopLogitsTest {

  @Test
  void topKKeepsTheLargestHighestFirstAndLowerIdsOnTies() {
    float[] logits = {0f, 1f, 5f, 3f, 5f, 2f, 9f, -1f}; // a position at offset 1, V = 6
    assertThat(TopLogits.topK(logits, 1, 6, 3)).containsExactly(5, 1, 3); // ids within the position
    assertThat(TopLogits.topK(logits, 1, 6, 6)).containsExactly(5, 1, 3, 2, 4, 0);
    assertThat(TopLogits.topK(new float[] {2f, 2f, 2f}, 0, 3, 2)).containsExactly(0, 1);
  }

  @Test
  void logSumExpIsHandComputedAndTopIsHighestFirst() {
    // one position, V = 3: logits 0, ln 2, ln 3 -> logsumexp = ln(1 + 2 + 3) = ln 6
    float[] logits = {0f, (float) Math.log(2), (float) Math.log(3)};
    List<Map<String, Object>> p = TopLogits.positions(logits, 1, 3, 2);
    assertThat((double) p.get(0).get("logsumexp"))
        .isCloseTo(Math.log(6), org.assertj.core.api.Assertions.within(1e-6));
    assertThat(p.get(0).get("top").toString())
        .startsWith("[{id=2, logit=")
        .contains("{id=1, logit=");
  }
}
