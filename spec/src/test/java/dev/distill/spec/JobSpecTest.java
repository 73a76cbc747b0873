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
                        "teacher.uri",
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

  private java.util.List<SpecViolation> violations(String specJson) {
    try {
      json.readValue(specJson, JobSpec.class);
    } catch (RuntimeException e) {
      Throwable root = e;
      while (root.getCause() != null) {
        root = root.getCause();
      }
      if (root instanceof InvalidSpecException invalid) {
        return invalid.violations();
      }
      throw e;
    }
    return java.util.List.of();
  }

  @Test
  void unknownCatalogNamesAreRejectedWithTheirField() {
    java.util.List<SpecViolation> found =
        violations(
            """
            {"type": "distill", "teacher": "builtin:gemma2-huge",
             "student": {"uri": "builtin:gemma2-tiny", "config": {"num_layers": 2, "hidden_size": 32}},
             "dataset": {"uri": "builtin:alpaca-52k", "template": "vicuna", "format": "csv"},
             "generation": {"pre_query_template": "mistral"}}
            """);
    assertThat(found)
        .extracting(SpecViolation::field)
        .containsExactlyInAnyOrder(
            "teacher.uri",
            "student.config.num_layers",
            "dataset.uri",
            "dataset.template",
            "dataset.format",
            "generation.pre_query_template");
    assertThat(found)
        .extracting(SpecViolation::toString)
        .contains(
            "teacher.uri: unknown builtin model 'gemma2-huge', expected one of builtin:gemma2-2b,"
                + " builtin:gemma2-9b, builtin:gemma2-27b, builtin:gemma2-tiny,"
                + " builtin:gemma2-demo-teacher, builtin:gemma2-demo-student",
            "dataset.uri: unknown builtin dataset 'alpaca-52k', expected one of builtin:procedural",
            "dataset.template: must be one of alpaca, gemma, llama3, phi3, chatml, was 'vicuna'",
            "generation.pre_query_template: must be one of gemma2, gemma, llama3, phi3, chatml,"
                + " qwen2, was 'mistral'");
  }

  @Test
  void everyCatalogNameIsAccepted() {
    for (String preset : Catalog.MODEL_PRESETS) {
      for (String template : Catalog.TEMPLATES) {
        assertThat(
                violations(
                    "{\"type\": \"finetune\", \"student\": \"builtin:"
                        + preset
                        + "\", \"dataset\": {\"uri\": \"builtin:procedural\", \"template\": \""
                        + template
                        + "\"}}"))
            .isEmpty();
      }
    }
    for (String name : Catalog.PRE_QUERY_TEMPLATES.keySet()) {
      assertThat(
              violations(
                  "{\"type\": \"synthesize\", \"teacher\": \"builtin:gemma2-tiny\","
                      + " \"generation\": {\"pre_query_template\": \""
                      + name.toUpperCase(java.util.Locale.ROOT)
                      + "\"}}"))
          .isEmpty();
    }
  }

  @Test
  void evaluationWithoutAValidationShareIsRejected() {
    assertThat(
            violations(
                """
                {"type": "evaluate", "student": "builtin:gemma2-tiny",
                 "dataset": {"uri": "builtin:procedural", "validation_fraction": 0}}
                """))
        .extracting(SpecViolation::field)
        .containsExactly("dataset.validation_fraction");
    assertThat(
            violations(
                """
                {"type": "finetune", "student": "builtin:gemma2-tiny",
                 "dataset": {"uri": "builtin:procedural", "validation_fraction": 0.0},
                 "hyperparameters": {"eval_every": 50}}
                """))
        .extracting(SpecViolation::toString)
        .containsExactly(
            "dataset.validation_fraction: must be greater than 0 when hyperparameters.eval_every"
                + " (50) asks for validation passes");
    // training without validation passes may use all the data
    assertThat(
            violations(
                """
                {"type": "finetune", "student": "builtin:gemma2-tiny",
                 "dataset": {"uri": "builtin:procedural", "validation_fraction": 0.0}}
                """))
        .isEmpty();
  }

  @Test
  void synthesisNeedsAChatTemplate() {
    assertThat(
            violations(
                """
                {"type": "synthesize", "teacher": "builtin:gemma2-tiny",
                 "dataset": {"uri": "builtin:procedural", "template": "alpaca"}}
                """))
        .extracting(SpecViolation::field)
        .containsExactly("generation.pre_query_template");
  }

  @Test
  void readsACustomPreQueryTextAndStopStrings() {
    JobSpec spec =
        json.readValue(
            """
            {"type": "synthesize", "teacher": "builtin:gemma2-tiny",
             "generation": {"pre_query_template": "llama3",
               "pre_query": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\\n\\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\\n\\n",
               "stop_strings": ["<|start_header_id|>", "<|end_header_id|>"]}}
            """,
            JobSpec.class);
    assertThat(spec.generation().preQuery())
        .startsWith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.")
        .endsWith("user<|end_header_id|>\n\n");
    assertThat(spec.generation().stopStrings())
        .containsExactly("<|start_header_id|>", "<|end_header_id|>");
    assertThat(json.readValue(json.writeValueAsString(spec), JobSpec.class)).isEqualTo(spec);

    assertThat(
            violations(
                """
                {"type": "synthesize", "teacher": "builtin:gemma2-tiny",
                 "generation": {"pre_query": "", "stop_strings": ["ok", ""]}}
                """))
        .extracting(SpecViolation::field)
        .containsExactly("generation.pre_query", "generation.stop_strings[1]");
  }

  @Test
  void responsesModeNeedsAnInstructionDatasetAndNoMagpieFields() {
    JobSpec spec =
        json.readValue(
            """
            {"type": "synthesize", "teacher": "builtin:gemma2-tiny",
             "dataset": {"uri": "file:/data/instructions.jsonl", "template": "alpaca"},
             "generation": {"mode": "Responses", "temperature": 0.7}}
            """,
            JobSpec.class);
    // valid (it parsed): the alpaca template is fine, no pre-query is needed
    assertThat(spec.generation().responses()).isTrue();
    assertThat(json.readValue(json.writeValueAsString(spec), JobSpec.class)).isEqualTo(spec);
    assertThat(
            violations(
                """
                {"type": "synthesize", "teacher": "builtin:gemma2-tiny",
                 "generation": {"mode": "responses"}}
                """))
        .extracting(SpecViolation::field)
        .containsExactly("dataset");
    assertThat(
            violations(
                """
                {"type": "synthesize", "teacher": "builtin:gemma2-tiny",
                 "dataset": {"uri": "file:/d.txt", "format": "text"},
                 "generation": {"mode": "responses", "pre_query_template": "gemma2",
                   "pre_query": "<bos>"}}
                """))
        .extracting(SpecViolation::field)
        .containsExactly("generation.pre_query_template", "generation.pre_query", "dataset.format");
    assertThat(
            violations(
                """
                {"type": "synthesize", "teacher": "builtin:gemma2-tiny",
                 "dataset": {"uri": "builtin:procedural"}, "generation": {"mode": "responses"}}
                """))
        .extracting(SpecViolation::field)
        .containsExactly("dataset.uri");
    assertThat(
            violations(
                """
                {"type": "synthesize", "teacher": "builtin:gemma2-tiny",
                 "generation": {"mode": "instructions"}}
                """))
        .extracting(SpecViolation::field)
        .containsExactly("generation.mode");
  }

  @Test
  void corpusModeNeedsATextDatasetAndItsSettingsAreForItAlone() {
    JobSpec spec =
        json.readValue(
            """
            {"type": "synthesize", "teacher": "builtin:gemma2-tiny",
             "dataset": {"uri": "file:/data/the-verdict.txt", "format": "text"},
             "generation": {"mode": "corpus", "chunk_tokens": 128, "pairs_per_chunk": 2}}
            """,
            JobSpec.class);
    assertThat(spec.generation().corpus()).isTrue();
    assertThat(spec.generation().chunkTokensOrDefault()).isEqualTo(128);
    assertThat(json.readValue(json.writeValueAsString(spec), JobSpec.class)).isEqualTo(spec);
    assertThat(
            violations(
                """
                {"type": "synthesize", "teacher": "builtin:gemma2-tiny",
                 "dataset": {"uri": "file:/d.json", "format": "alpaca"},
                 "generation": {"mode": "corpus", "chunk_tokens": 4, "pairs_per_chunk": 0,
                   "pre_query": "<bos>"}}
                """))
        .extracting(SpecViolation::field)
        .containsExactly(
            "generation.pre_query",
            "generation.chunk_tokens",
            "generation.pairs_per_chunk",
            "dataset.format");
    assertThat(
            violations(
                """
                {"type": "synthesize", "teacher": "builtin:gemma2-tiny",
                 "generation": {"mode": "corpus"}}
                """))
        .extracting(SpecViolation::field)
        .containsExactly("dataset");
    assertThat(
            violations(
                """
                {"type": "synthesize", "teacher": "builtin:gemma2-tiny",
                 "dataset": {"uri": "file:/d.json", "format": "alpaca"},
                 "generation": {"mode": "responses", "chunk_tokens": 64, "pairs_per_chunk": 2}}
                """))
        .extracting(SpecViolation::field)
        .containsExactly("generation.chunk_tokens", "generation.pairs_per_chunk");
  }

  @Test
  void generationWithoutTheCustomFieldsSerialisesAsBefore() {
    // the spec hash of a checkpoint covers this JSON: a job checkpointed before pre_query and
    // stop_strings existed must resume under the same hash
    tools.jackson.databind.JsonNode gen = json.valueToTree(GenerationSpec.defaults());
    assertThat(gen.propertyNames())
        .containsExactly(
            "num_samples", "max_new_tokens", "temperature", "top_p", "pre_query_template");
  }

  @Test
  void rejectsUnknownFields() {
    assertThatThrownBy(
            () ->
                json.readValue(
                    "{\"type\": \"evaluate\", \"student\": \"builtin:gemma2-tiny\", \"dataset\": {\"uri\":"
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
