package dev.distill.spec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/** {@code checkpoints} of evaluate jobs: defaults, the direction of each metric, validation. */
class CheckpointSelectionTest {

  private final ObjectMapper json =
      JsonMapper.builder().enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES).build();

  private JobSpec evaluate(String checkpoints) {
    return json.readValue(
        """
        {"type": "evaluate", "student": "job:0b6e7d2a-1c7e-4c35-9d1e-5f5a3c1b2d4e",
         "dataset": {"uri": "builtin:procedural"}, "checkpoints": %s}
        """
            .formatted(checkpoints),
        JobSpec.class);
  }

  @Test
  void defaultsAreTheLatestByLowestValLossAndScoresGoUp() {
    CheckpointSelection d = evaluate("{}").checkpoints();
    assertThat(d.select()).isEqualTo("latest");
    assertThat(d.all()).isFalse();
    assertThat(d.bestBy()).isEqualTo("val_loss");
    assertThat(d.mode()).isEqualTo("min");
    assertThat(d.better(1.0, 2.0)).isTrue();
    CheckpointSelection exact =
        evaluate("{\"select\": \"all\", \"best_by\": \"exact_match\"}").checkpoints();
    assertThat(exact.all()).isTrue();
    assertThat(exact.mode()).isEqualTo("max");
    assertThat(exact.better(1.0, 2.0)).isFalse();
    // absent, the spec has no checkpoints field (old specs keep their JSON)
    JobSpec old =
        json.readValue(
            "{\"type\": \"evaluate\", \"student\": \"builtin:gemma2-tiny\","
                + " \"dataset\": {\"uri\": \"builtin:procedural\"}}",
            JobSpec.class);
    assertThat(old.checkpoints()).isNull();
    assertThat(json.writeValueAsString(old)).doesNotContain("\"checkpoints\"");
  }

  @Test
  void badValuesNameTheirField() {
    assertThatThrownBy(
            () -> evaluate("{\"select\": \"some\", \"best_by\": \"loss\", \"mode\": \"up\"}"))
        .hasMessageContaining("checkpoints.select")
        .hasMessageContaining("checkpoints.best_by")
        .hasMessageContaining("checkpoints.mode");
    assertThatThrownBy(() -> evaluate("{\"select\": \"all\", \"best_by\": \"top1_agreement\"}"))
        .hasMessageContaining("checkpoints.best_by")
        .hasMessageContaining("needs a teacher");
  }
}
