package dev.distill.spec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import tools.jackson.core.JacksonException;
import tools.jackson.core.exc.StreamReadException;
import tools.jackson.databind.DatabindException;
import tools.jackson.databind.ObjectMapper;

/** The strict reading rules the service and the command line share. */
class SpecJsonTest {

  private final ObjectMapper json = SpecJson.mapper();
  private static final String BASE =
      "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\","
          + "\"dataset\":{\"uri\":\"builtin:procedural\"}";

  private static String path(JacksonException e) {
    StringBuilder sb = new StringBuilder();
    for (JacksonException.Reference r : e.getPath()) {
      if (r.getPropertyName() != null) {
        sb.append(sb.isEmpty() ? "" : ".").append(r.getPropertyName());
      }
    }
    return sb.toString();
  }

  private void refusedAt(String extra, String field) {
    assertThatThrownBy(() -> json.readValue(BASE + extra, JobSpec.class))
        .as(extra)
        .isInstanceOfSatisfying(JacksonException.class, e -> assertThat(path(e)).isEqualTo(field));
  }

  @Test
  void nothingIsCoerced() {
    refusedAt(",\"hyperparameters\":{\"max_steps\":\"300\"}}", "hyperparameters.max_steps");
    refusedAt(",\"hyperparameters\":{\"max_steps\":300.7}}", "hyperparameters.max_steps");
    refusedAt(",\"hyperparameters\":{\"learning_rate\":\"0.1\"}}", "hyperparameters.learning_rate");
    refusedAt(",\"priority\":1e30}", "priority");
    refusedAt(",\"priority\":10000000000}", "priority");
    refusedAt(",\"hyperparameters\":{\"seed\":1e30}}", "hyperparameters.seed");
    refusedAt(",\"metadata\":{\"a\":5}}", "metadata.a");
    refusedAt(",\"max_attempts\":true}", "max_attempts");
    assertThatThrownBy(
            () ->
                json.readValue(
                    "{\"type\":\"finetune\",\"student\":42,"
                        + "\"dataset\":{\"uri\":\"builtin:procedural\"}}",
                    JobSpec.class))
        .isInstanceOf(DatabindException.class);
    // an integer where a fraction is allowed is fine
    assertThat(
            json.readValue(BASE + ",\"hyperparameters\":{\"learning_rate\":1}}", JobSpec.class)
                .hyperparameters()
                .learningRate())
        .isEqualTo(1.0);
  }

  @Test
  void duplicateKeysAndTrailingContentAreSyntaxErrors() {
    assertThatThrownBy(() -> json.readValue(BASE + ",\"type\":\"distill\"}", JobSpec.class))
        .isInstanceOf(StreamReadException.class)
        .hasMessageContaining("\"type\"");
    assertThatThrownBy(() -> json.readTree(BASE + ",\"hyperparameters\":{\"seed\":1,\"seed\":2}}"))
        .isInstanceOf(StreamReadException.class)
        .hasMessageContaining("\"seed\"");
    assertThatThrownBy(() -> json.readValue(BASE + "} x", JobSpec.class))
        .isInstanceOf(StreamReadException.class);
  }
}
