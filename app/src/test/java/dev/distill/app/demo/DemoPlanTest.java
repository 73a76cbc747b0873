package dev.distill.app.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

class DemoPlanTest {

  @Test
  void overridesReplaceNamedSettingsAndRefuseUnknownOnes() {
    DemoPlan p = DemoPlan.standard().with(Map.of("studentSteps", "900", "kdRatio", "0.5"));
    assertThat(p.studentSteps()).isEqualTo(900);
    assertThat(p.kdRatio()).isEqualTo(0.5);
    assertThat(p.teacherSteps()).isEqualTo(DemoPlan.standard().teacherSteps());
    assertThat(p.withSeed(7).seed()).isEqualTo(7L);
    assertThat(p.withSeed(7).studentSteps()).isEqualTo(900);
    assertThatThrownBy(() -> p.with(Map.of("studentStep", "1")))
        .hasMessageContaining("unknown demo setting 'studentStep'")
        .hasMessageContaining("studentSteps");
    assertThatThrownBy(() -> p.with(Map.of("studentSteps", "many")))
        .hasMessageContaining("studentSteps: 'many' is not a int");
  }

  @Test
  void theDistilledStudentTrainsFromTheTeacherPassOnTheStudentsData() {
    DemoPlan p = DemoPlan.standard();
    Map<String, Object> pass = p.teacherPassSpec("t1");
    assertThat(pass).containsEntry("type", "teacher_pass").containsEntry("teacher", "job:t1");
    assertThat(pass.get("teacher_pass")).isEqualTo(Map.of("top_k", p.topK(), "shards", p.shards()));
    Map<String, Object> d = p.distilledSpec("p1");
    assertThat(d).containsEntry("teacher_logits", "job:p1").doesNotContainKey("teacher");
    assertThat(d.get("dataset")).isEqualTo(pass.get("dataset")).isEqualTo(p.dataset());
    assertThat(p.baselineSpec().get("dataset")).isEqualTo(p.dataset());
    @SuppressWarnings("unchecked")
    Map<String, Object> teacherData = (Map<String, Object>) p.teacherSpec().get("dataset");
    assertThat(teacherData).containsEntry("num_examples", p.teacherExamples());
    assertThat(p.evaluateSpec("m", "t1", "x").get("dataset")).isEqualTo(p.evaluationDataset());
  }

  @Test
  void theReportOfOneSeedSaysHowMuchTheMeasuredPlanMovesFromSeedToSeed() {
    // gains 0.2097, 0.1139, 0.1126, 0.1247, 0.0725, 0.0798: mean 0.1189, sample sd 0.0490
    assertThat(DemoPlan.standard().withSeed(99).uncertainty())
        .contains("on 6 seeds (1234, 1, 2, 3, 4, 5)")
        .contains("by 0.119 on average, by 0.073 to 0.210")
        .contains("standard deviation of 0.049");
    assertThat(DemoPlan.standard().with(Map.of("studentSteps", "900")).uncertainty())
        .contains("was not measured");
    assertThat(DemoPlan.standard().regime(1, 1).get(DemoPlan.standard().regime(1, 1).size() - 1))
        .startsWith("uncertainty: one seed is one draw");
  }
}
