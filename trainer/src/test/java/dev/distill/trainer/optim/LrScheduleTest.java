package dev.distill.trainer.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.distill.spec.Hyperparameters;
import org.junit.jupiter.api.Test;

class LrScheduleTest {

  private final LrSchedule s = new LrSchedule(1e-3, 10, 110, 0.1);

  @Test
  void warmupIsLinearAndEndsAtThePeak() {
    assertThat(s.lr(1)).isCloseTo(1e-4, within(1e-12));
    assertThat(s.lr(5)).isCloseTo(5e-4, within(1e-12));
    assertThat(s.lr(10)).isCloseTo(1e-3, within(1e-12));
  }

  @Test
  void cosineHalfwayAndAtTheEnd() {
    // midpoint of the decay (step 60): peak * (min + (1 - min) / 2) = 1e-3 * 0.55
    assertThat(s.lr(60)).isCloseTo(5.5e-4, within(1e-12));
    // a quarter in (step 35): 1e-3 * (0.1 + 0.9 * (1 + cos(pi / 4)) / 2) = 8.681981e-4
    assertThat(s.lr(35)).isCloseTo(8.681980515339464e-4, within(1e-12));
    assertThat(s.lr(110)).isCloseTo(1e-4, within(1e-12));
    assertThat(s.lr(500)).isCloseTo(1e-4, within(1e-12));
    assertThatThrownBy(() -> s.lr(0)).hasMessageContaining("step counts from 1, was 0");
  }

  @Test
  void withoutWarmupTheFirstStepIsNearThePeak() {
    LrSchedule none = new LrSchedule(1.0, 0, 4, 0.0);
    assertThat(none.lr(1)).isCloseTo((1 + Math.cos(Math.PI / 4)) / 2, within(1e-12));
    assertThat(none.lr(2)).isCloseTo(0.5, within(1e-12));
    assertThat(none.lr(4)).isCloseTo(0.0, within(1e-12));
  }

  @Test
  void configFromHyperparametersAndItsChecks() {
    OptimizerConfig c = OptimizerConfig.from(Hyperparameters.defaults());
    assertThat(c).isEqualTo(new OptimizerConfig(1e-3, 0.1, 20, 200, 0.01, 0.9, 0.95, 1e-8, 1.0));
    assertThat(c.schedule().lr(20)).isEqualTo(1e-3);
    assertThatThrownBy(() -> new OptimizerConfig(0, 0.1, 0, 10, 0, 0.9, 0.9, 1e-8, 0))
        .hasMessageContaining("learningRate")
        .hasMessageContaining("was 0.0");
    assertThatThrownBy(() -> new OptimizerConfig(1e-3, 0.1, 11, 10, 0, 0.9, 0.9, 1e-8, 0))
        .hasMessageContaining("warmupSteps")
        .hasMessageContaining("was 11");
    assertThatThrownBy(() -> new OptimizerConfig(1e-3, 0.1, 0, 10, 0, 1.0, 0.9, 1e-8, 0))
        .hasMessageContaining("beta1")
        .hasMessageContaining("was 1.0");
    assertThatThrownBy(() -> new OptimizerConfig(1e-3, 0.1, 0, 10, 0, 0.9, 0.9, 1e-8, -1))
        .hasMessageContaining("gradClip")
        .hasMessageContaining("was -1.0");
  }
}
