package dev.distill.trainer.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.trainer.demo.DemoReport.ModelResult;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DemoReportTest {

  private static ModelResult result(String name, double valLoss) {
    return new ModelResult(name, "j-" + name, "e-" + name, 1000, valLoss, 0.1, 0.5, Map.of());
  }

  @Test
  void verdictComparesTheStudentsAndChecksTheTeacherIsBetterThanBoth() {
    assertThat(
            DemoReport.verdict(
                List.of(
                    result("teacher", 0.40), result("distilled", 0.50), result("baseline", 0.60))))
        .startsWith("The distilled student beats the baseline on validation loss: 0.5000 vs 0.6000")
        .contains("(-0.1000)")
        .contains("The teacher (0.4000) is better than both students");
    assertThat(
            DemoReport.verdict(
                List.of(
                    result("teacher", 0.55), result("distilled", 0.50), result("baseline", 0.60))))
        .contains("beats the baseline")
        .contains("The teacher (0.5500) is not better than both students");
    assertThat(
            DemoReport.verdict(
                List.of(
                    result("teacher", 0.40), result("distilled", 0.70), result("baseline", 0.60))))
        .startsWith("The distilled student does not beat the baseline")
        .contains("(+0.1000)");
    assertThat(DemoReport.verdict(List.of(result("teacher", 0.4)))).isEmpty();
  }
}
