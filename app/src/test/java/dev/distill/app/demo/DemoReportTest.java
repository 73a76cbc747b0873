package dev.distill.app.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.app.demo.DemoReport.ModelResult;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DemoReportTest {

  private static ModelResult result(String name, double valLoss) {
    return new ModelResult(name, "j-" + name, "e-" + name, 1000, valLoss, 0.1, 0.5, Map.of());
  }

  private static ModelResult byKind(String name, double valLoss, double unique, double several) {
    return new ModelResult(
        name,
        "j-" + name,
        "e-" + name,
        1000,
        valLoss,
        0.1,
        0.5,
        Map.of("val_loss_unique", unique, "val_loss_several", several));
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

  @Test
  void verdictAndTableSplitTheLossByKindOfTask() {
    List<ModelResult> rs =
        List.of(
            byKind("teacher", 0.4, 0.5, 0.2),
            byKind("distilled", 0.5, 0.6, 0.3),
            byKind("baseline", 0.6, 0.62, 0.55));
    assertThat(DemoReport.verdict(rs))
        .contains("several valid answers 0.3000 vs 0.5500 (-0.2500)")
        .contains("one answer 0.6000 vs 0.6200 (-0.0200)");
    assertThat(DemoReport.table(rs))
        .contains("| val loss, one answer | val loss, several answers |")
        .contains("| distilled | 1,000 | 0.5000 | 0.6000 | 0.3000 | 0.1000 | 50.0% |");
    assertThat(DemoReport.table(List.of(result("teacher", 0.4))))
        .contains("| teacher | 1,000 | 0.4000 | - | - |");
  }
}
