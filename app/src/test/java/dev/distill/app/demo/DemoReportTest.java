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

  private static DemoReport.Run run(
      long seed, double[] loss, double[] unique, double[] several, boolean[][] hits) {
    String[] names = {"teacher", "distilled", "baseline"};
    List<ModelResult> models = new java.util.ArrayList<>();
    Map<String, boolean[]> h = new java.util.LinkedHashMap<>();
    for (int i = 0; i < 3; i++) {
      int right = 0;
      for (boolean b : hits[i]) {
        right += b ? 1 : 0;
      }
      models.add(
          new ModelResult(
              names[i],
              "j",
              "e",
              1000,
              loss[i],
              0.1 * i,
              (double) right / hits[i].length,
              Map.of("val_loss_unique", unique[i], "val_loss_several", several[i])));
      h.put(names[i], hits[i]);
    }
    return new DemoReport.Run(seed, models, h, null, 60);
  }

  private static final boolean T = true;
  private static final boolean F = false;

  @Test
  void seedsAggregateToMeanSpreadAndTheGainAgainstItsSpread() {
    // distilled - baseline val loss per seed: -0.10, -0.06, -0.08 (mean -0.08, sd 0.02)
    List<DemoReport.Run> runs =
        List.of(
            run(
                1,
                new double[] {1.0, 1.2, 1.3},
                new double[] {1.1, 1.3, 1.4},
                new double[] {0.5, 0.6, 0.7},
                new boolean[][] {{T, T, T, F}, {T, T, F, F}, {T, F, F, F}}),
            run(
                2,
                new double[] {1.0, 1.24, 1.3},
                new double[] {1.1, 1.3, 1.4},
                new double[] {0.5, 0.6, 0.7},
                new boolean[][] {{T, T, T, T}, {T, T, T, F}, {T, T, T, F}}),
            run(
                3,
                new double[] {1.0, 1.22, 1.3},
                new double[] {1.1, 1.3, 1.4},
                new double[] {0.5, 0.6, 0.7},
                new boolean[][] {{T, T, F, F}, {T, F, F, F}, {F, F, F, F}}));
    DemoReport.SeedsSummary s = DemoReport.aggregate(runs);
    assertThat(s.seeds()).containsExactly(1L, 2L, 3L);
    DemoStats.Spread dLoss = s.perModel().get("distilled").get("val_loss");
    assertThat(dLoss.mean()).isCloseTo(1.22, org.assertj.core.api.Assertions.within(1e-12));
    assertThat(dLoss.sd()).isCloseTo(0.02, org.assertj.core.api.Assertions.within(1e-12));
    assertThat(s.gains().get("val_loss"))
        .containsExactly(
            new double[] {-0.10, -0.06, -0.08}, org.assertj.core.api.Assertions.within(1e-12));
    assertThat(s.gain().get("val_loss").mean())
        .isCloseTo(-0.08, org.assertj.core.api.Assertions.within(1e-12));
    assertThat(s.gain().get("val_loss").sd())
        .isCloseTo(0.02, org.assertj.core.api.Assertions.within(1e-12));
    // exact match distilled 2/4, 3/4, 1/4 against baseline 1/4, 3/4, 0/4: gains 0.25, 0, 0.25
    assertThat(s.gain().get("exact_match").mean())
        .isCloseTo(1.0 / 6, org.assertj.core.api.Assertions.within(1e-12));
    // the smallest gain 0.06 exceeds the spread 0.02; the teacher is below both on both kinds
    assertThat(s.gainBeyondSpread()).isTrue();
    assertThat(s.teacherBetterEverySeed()).isTrue();
    assertThat(DemoReport.seedsSummary(runs))
        .contains("| distilled − baseline | -0.0800 ± 0.0200 |")
        .contains("| 2 | -0.0600 |")
        .contains("On every seed the gain is larger than that spread");

    // seed 2's gain shrinks to -0.01: diffs -0.10, -0.01, -0.08 have sd 0.047258, more than 0.01
    List<DemoReport.Run> noisy =
        List.of(
            runs.get(0),
            run(
                2,
                new double[] {1.0, 1.29, 1.3},
                new double[] {1.1, 1.3, 1.4},
                new double[] {0.5, 0.6, 0.7},
                new boolean[][] {{T, T, T, T}, {T, T, T, F}, {T, T, T, F}}),
            runs.get(2));
    DemoReport.SeedsSummary n = DemoReport.aggregate(noisy);
    assertThat(n.gain().get("val_loss").sd())
        .isCloseTo(0.047258, org.assertj.core.api.Assertions.within(1e-6));
    assertThat(n.gainBeyondSpread()).isFalse();
    // a teacher worse than a student on the one-answer tasks on one seed fails the premise
    List<DemoReport.Run> badTeacher =
        List.of(
            runs.get(0),
            run(
                4,
                new double[] {1.0, 1.2, 1.3},
                new double[] {1.35, 1.3, 1.4},
                new double[] {0.5, 0.6, 0.7},
                new boolean[][] {{T}, {T}, {F}}));
    assertThat(DemoReport.aggregate(badTeacher).teacherBetterEverySeed()).isFalse();
  }

  @Test
  void oneSeedReportsExactMatchWithItsIntervalsAndThePairedGain() {
    DemoReport.Run r =
        run(
            1,
            new double[] {1.0, 1.2, 1.3},
            new double[] {1.1, 1.3, 1.4},
            new double[] {0.5, 0.6, 0.7},
            new boolean[][] {
              {T, T, T, T, T, T, T, T, T, T},
              {T, T, T, F, T, T, F, F, F, F},
              {F, F, F, T, T, T, F, F, F, F}
            });
    // distilled 5/10: Wilson 23.7-76.3%; paired gain (3 - 1) / 10 = +20.0, -17.2 to +57.2
    assertThat(DemoReport.table(r))
        .contains("| distilled | 1,000 | 1.2000 | 1.3000 | 0.6000 |")
        .contains("50.0% (23.7-76.3)");
    assertThat(DemoReport.verdict(r))
        .contains("Exact match on 10 held-out prompts")
        .contains("+20.0 points, 95% interval -17.2 to +57.2")
        .contains("the 3 prompts only the distilled student got right and the 1 only the baseline")
        .contains("The teacher is better than both students on both kinds of task.");
  }
}
