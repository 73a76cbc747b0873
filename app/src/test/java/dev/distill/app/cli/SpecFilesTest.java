package dev.distill.app.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distill.spec.JobSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/** {@code submit --set FIELD=VALUE}: the spec file changed before it is checked. */
class SpecFilesTest {

  @Test
  void setReplacesNestedFieldsWithTypedValues() throws Exception {
    String id = UUID.randomUUID().toString();
    Path distill = ExamplesTest.examples().resolve("distill.json");
    JsonNode tree =
        SpecFiles.readTree(
            distill,
            List.of(
                "teacher=job:" + id,
                "hyperparameters.max_steps=50",
                "dataset.mask_prompt=false",
                "metadata={\"name\": \"short\"}"));
    JobSpec spec = ExamplesTest.toSpec(tree);
    assertThat(spec.teacher().uri()).isEqualTo("job:" + id);
    assertThat(spec.hyperparameters().maxSteps()).isEqualTo(50);
    assertThat(spec.hyperparameters().batchSize()).isEqualTo(16); // the file's
    assertThat(spec.dataset().maskPrompt()).isFalse();
    assertThat(spec.metadata()).containsExactly(java.util.Map.entry("name", "short"));
    // a model given as a string becomes an object when a field of it is set
    JsonNode tok = SpecFiles.readTree(distill, List.of("student.tokenizer=byte"));
    assertThat(tok.get("student").get("uri").asString()).isEqualTo("builtin:gemma2-demo-student");
    assertThat(tok.get("student").get("tokenizer").asString()).isEqualTo("byte");
  }

  @Test
  void aSetThatBreaksTheSpecIsRefusedNamingTheField(@TempDir Path dir) throws Exception {
    Path f = Files.writeString(dir.resolve("s.json"), "{\"type\": \"finetune\"}");
    assertThatThrownBy(() -> SpecFiles.readTree(f, List.of("student=builtin:gemma2-huge")))
        .hasMessageContaining("student.uri: unknown builtin model 'gemma2-huge'");
    assertThatThrownBy(() -> SpecFiles.readTree(f, List.of("student")))
        .hasMessageContaining("--set student: expected FIELD=VALUE");
  }
}
