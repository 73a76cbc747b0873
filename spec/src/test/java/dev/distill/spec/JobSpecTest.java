package dev.distill.spec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.exc.UnrecognizedPropertyException;
import tools.jackson.databind.json.JsonMapper;

class JobSpecTest {

  private final ObjectMapper json =
      JsonMapper.builder().enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES).build();

  @Test
  void parsesAMinimalDistillSpecAndFillsDefaults() {
    JobSpec spec =
        json.readValue(
            """
            {"type": "distill", "teacher": "job:0b6e7d2a-1c7e-4c35-9d1e-5f5a3c1b2d4e",
             "student": {"uri": "builtin:gemma2-tiny", "config": {"num_hidden_layers": 3}},
             "dataset": {"uri": "builtin:procedural"}}
            """,
            JobSpec.class);

    assertThat(spec.type()).isEqualTo(JobType.DISTILL);
    assertThat(spec.teacher().isJob()).isTrue();
    assertThat(spec.student().config()).containsEntry("num_hidden_layers", 3);
    assertThat(spec.hyperparameters().temperature()).isEqualTo(1.0);
    assertThat(spec.hyperparameters().kdRatio()).isEqualTo(1.0);
    assertThat(spec.dataset().template()).isEqualTo("gemma");
    assertThat(spec.maxAttempts()).isEqualTo(3);
  }

  @Test
  void listsEveryViolationWithItsField() {
    assertThatThrownBy(
            () ->
                json.readValue(
                    """
                    {"type": "finetune", "teacher": "builtin:x", "student": "file:../etc",
                     "dataset": {"uri": "s3://bucket", "max_seq_len": 2},
                     "hyperparameters": {"learning_rate": 0, "batch_size": 8, "micro_batch_size": 3},
                     "priority": 5000}
                    """,
                    JobSpec.class))
        .rootCause()
        .isInstanceOfSatisfying(
            InvalidSpecException.class,
            e ->
                assertThat(e.violations())
                    .extracting(SpecViolation::field)
                    .containsExactlyInAnyOrder(
                        "teacher",
                        "student.uri",
                        "student.uri",
                        "dataset.uri",
                        "dataset.max_seq_len",
                        "hyperparameters.learning_rate",
                        "hyperparameters.micro_batch_size",
                        "priority"));
  }

  @Test
  void aBadMaxStepsIsOneErrorNotTwo() {
    assertThatThrownBy(
            () ->
                json.readValue(
                    """
                    {"type": "finetune", "student": "builtin:gemma2-tiny",
                     "dataset": {"uri": "builtin:procedural"},
                     "hyperparameters": {"max_steps": -5}}
                    """,
                    JobSpec.class))
        .rootCause()
        .isInstanceOfSatisfying(
            InvalidSpecException.class,
            e ->
                assertThat(e.violations())
                    .extracting(SpecViolation::field)
                    .containsExactly("hyperparameters.max_steps"));
  }

  @Test
  void rejectsUnknownFields() {
    assertThatThrownBy(
            () ->
                json.readValue(
                    "{\"type\": \"evaluate\", \"student\": \"builtin:a\", \"dataset\": {\"uri\":"
                        + " \"builtin:procedural\"}, \"status\": \"SUCCEEDED\"}",
                    JobSpec.class))
        .isInstanceOf(UnrecognizedPropertyException.class)
        .hasMessageContaining("status");
  }

  @Test
  void roundTripsThroughJson() {
    JobSpec spec =
        new JobSpec(
            JobType.FINETUNE,
            null,
            ModelRef.of("builtin:gemma2-tiny"),
            DatasetSpec.procedural(),
            null,
            null,
            null,
            7,
            null,
            null);
    JobSpec back = json.readValue(json.writeValueAsString(spec), JobSpec.class);
    assertThat(back).isEqualTo(spec);
  }
}
