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

  @Test
  void chartsDrawOneQuantityEach(@org.junit.jupiter.api.io.TempDir java.nio.file.Path out)
      throws Exception {
    DemoReport.Curve ce = new DemoReport.Curve("distilled", List.of(new double[] {1, 2.5}));
    DemoReport.Curve kl = new DemoReport.Curve("distilled", List.of(new double[] {1, 0.3}));
    DemoReport.Curve base = new DemoReport.Curve("baseline", List.of(new double[] {1, 2.7}));
    String md =
        DemoReport.write(
            out,
            List.of(result("teacher", 0.4), result("distilled", 0.5), result("baseline", 0.6)),
            List.of("regime"),
            new DemoReport.Curves(List.of(ce, base), List.of(kl), List.of()));
    assertThat(out.resolve(DemoReport.TRAIN_CE_PNG)).isNotEmptyFile();
    assertThat(out.resolve(DemoReport.TRAIN_KL_PNG)).isNotEmptyFile();
    assertThat(out.resolve(DemoReport.VAL_PNG)).doesNotExist();
    assertThat(out.resolve("train-loss.png")).doesNotExist();
    assertThat(md)
        .contains("![training cross-entropy](train-ce.png)")
        .contains("![distilled student: KL to the teacher](train-kl.png)");
    // the series the demo reads: cross-entropy, which every training job reports, and KL apart
    assertThat(DemoReport.CE).isEqualTo("ce");
    assertThat(DemoReport.KL).isEqualTo("kl");
  }
}
