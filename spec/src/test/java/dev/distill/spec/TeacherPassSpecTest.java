package dev.distill.spec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/** The teacher_pass job type and a distill job's {@code teacher_logits}. */
class TeacherPassSpecTest {

  private static final String PASS = "job:0b6e7d2a-1c7e-4c35-9d1e-5f5a3c1b2d4e";

  private final ObjectMapper json =
      JsonMapper.builder().enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES).build();

  private JobSpec parse(String body) {
    return json.readValue(body, JobSpec.class);
  }

  private void assertFields(String body, String... fields) {
    assertThatThrownBy(() -> parse(body))
        .rootCause()
        .isInstanceOfSatisfying(
            InvalidSpecException.class,
            e ->
                assertThat(e.violations())
                    .extracting(SpecViolation::field)
                    .containsExactlyInAnyOrder(fields));
  }

  @Test
  void aTeacherPassTakesATeacherAndADatasetWithDefaultSettings() {
    JobSpec spec =
        parse(
            """
            {"type": "teacher_pass", "teacher": "builtin:gemma2-tiny",
             "dataset": {"uri": "builtin:procedural", "template": "chatml"}}
            """);
    assertThat(spec.type()).isEqualTo(JobType.TEACHER_PASS);
    assertThat(spec.teacherPass().topK()).isEqualTo(64);
    assertThat(spec.teacherPass().shards()).isEqualTo(1);
    assertThat(spec.teacherPass().massBound()).isNull();
    assertThat(spec.teacherPass().encoding()).isEqualTo("q16");
    JobSpec again = parse(json.writeValueAsString(spec));
    assertThat(again).isEqualTo(spec);
  }

  @Test
  void badSettingsAndAStudentAreRefusedWithTheirFields() {
    assertFields(
        """
        {"type": "teacher_pass", "teacher": "builtin:gemma2-tiny", "student": "builtin:gemma2-tiny",
         "teacher_pass": {"top_k": 0, "mass_bound": 1.5, "shards": 0, "encoding": "bf16"}}
        """,
        "dataset",
        "student",
        "teacher_pass.top_k",
        "teacher_pass.mass_bound",
        "teacher_pass.shards",
        "teacher_pass.encoding");
  }

  @Test
  void aDistillJobMayTrainFromACacheInsteadOfATeacher() {
    JobSpec spec =
        parse(
            """
            {"type": "distill", "teacher_logits": "%s", "student": "builtin:gemma2-tiny",
             "dataset": {"uri": "builtin:procedural"}}
            """
                .formatted(PASS));
    assertThat(spec.teacher()).isNull();
    assertThat(FileRefs.references(spec)).containsEntry("teacher_logits", PASS);
  }

  @Test
  void aCacheWithATeacherAnotherTemperatureOrAnotherSchemeIsRefused() {
    assertFields(
        """
        {"type": "distill", "teacher_logits": "%s", "teacher": "builtin:gemma2-tiny",
         "student": "builtin:gemma2-tiny", "dataset": {"uri": "builtin:procedural"},
         "hyperparameters": {"temperature": 2.0}}
        """
            .formatted(PASS),
        "teacher",
        "hyperparameters.temperature");
    assertFields(
        """
        {"type": "distill", "teacher_logits": "file:/tmp/cache",
         "student": "builtin:gemma2-tiny", "dataset": {"uri": "builtin:procedural"}}
        """,
        "teacher_logits");
    assertFields(
        """
        {"type": "finetune", "teacher_logits": "%s",
         "student": "builtin:gemma2-tiny", "dataset": {"uri": "builtin:procedural"},
         "teacher_pass": {"top_k": 8}}
        """
            .formatted(PASS),
        "teacher_logits",
        "teacher_pass");
  }
}
