package dev.distill.app.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class DemoStatsTest {

  @Test
  void wilsonIntervalMatchesTheHandComputedOne() {
    // 30 of 100, z = 1.96: centre (0.3 + z^2/200) / (1 + z^2/100) = 0.307398,
    // half-width z sqrt(0.3 * 0.7 / 100 + z^2 / 40000) / (1 + z^2/100) = 0.088449
    DemoStats.Interval i = DemoStats.wilson(30, 100, DemoStats.Z95);
    assertThat(i.estimate()).isEqualTo(0.3);
    assertThat(i.low()).isCloseTo(0.218949, within(1e-6));
    assertThat(i.high()).isCloseTo(0.395849, within(1e-6));
    // at the edges it stays inside [0, 1] and is not empty: 0 of 10 gives 0 .. z^2 / (n + z^2)
    DemoStats.Interval none = DemoStats.wilson(0, 10, DemoStats.Z95);
    assertThat(none.low()).isEqualTo(0.0);
    assertThat(none.high()).isCloseTo(0.277533, within(1e-6));
    DemoStats.Interval all = DemoStats.wilson(10, 10, DemoStats.Z95);
    assertThat(all.low()).isCloseTo(0.722467, within(1e-6));
    assertThat(all.high()).isCloseTo(1.0, within(1e-12));
    assertThatThrownBy(() -> DemoStats.wilson(3, 0, DemoStats.Z95))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void pairedDifferenceCountsOnlyTheDiscordantPrompts() {
    // 10 prompts: 3 right only for a, 1 right only for b, 2 right for both, 4 for neither
    boolean[] a = {true, true, true, false, true, true, false, false, false, false};
    boolean[] b = {false, false, false, true, true, true, false, false, false, false};
    // d = (3 - 1) / 10 = 0.2; Var = ((3 + 1) - 2^2 / 10) / 10^2 = 0.036; half = 1.96 * 0.189737
    DemoStats.Interval d = DemoStats.pairedDifference(a, b, DemoStats.Z95);
    assertThat(d.estimate()).isCloseTo(0.2, within(1e-12));
    assertThat(d.low()).isCloseTo(-0.171877, within(1e-6));
    assertThat(d.high()).isCloseTo(0.571877, within(1e-6));
    // the prompts both got right or both missed do not widen it: the same discordant counts
    // among 20 prompts halve d, and Var = (4 - 4/20) / 400 = 0.0095
    boolean[] a20 = new boolean[20];
    boolean[] b20 = new boolean[20];
    System.arraycopy(a, 0, a20, 0, 10);
    System.arraycopy(b, 0, b20, 0, 10);
    DemoStats.Interval d20 = DemoStats.pairedDifference(a20, b20, DemoStats.Z95);
    assertThat(d20.estimate()).isCloseTo(0.1, within(1e-12));
    assertThat(d20.high() - d20.estimate()).isCloseTo(1.959964 * Math.sqrt(0.0095), within(1e-6));
    // identical answers: no difference and no width
    DemoStats.Interval same = DemoStats.pairedDifference(a, a, DemoStats.Z95);
    assertThat(same.low()).isEqualTo(0.0);
    assertThat(same.high()).isEqualTo(0.0);
    assertThatThrownBy(() -> DemoStats.pairedDifference(a, new boolean[3], DemoStats.Z95))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void spreadIsTheMeanAndTheSampleStandardDeviation() {
    DemoStats.Spread s = DemoStats.spread(new double[] {-0.10, -0.06, -0.08});
    assertThat(s.n()).isEqualTo(3);
    assertThat(s.mean()).isCloseTo(-0.08, within(1e-12));
    // deviations -0.02, 0.02, 0: sqrt(0.0008 / 2) = 0.02
    assertThat(s.sd()).isCloseTo(0.02, within(1e-12));
    assertThat(s.min()).isEqualTo(-0.10);
    assertThat(s.max()).isEqualTo(-0.06);
    assertThat(DemoStats.spread(new double[] {1.5}).sd()).isNaN();
  }
}
