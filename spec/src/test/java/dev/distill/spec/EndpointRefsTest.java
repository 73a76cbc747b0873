package dev.distill.spec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.json.JsonMapper;

class EndpointRefsTest {

  private final JsonMapper json = SpecJson.mapper();

  private static final String EVALUATE_WITH_JUDGE =
      """
      {"type": "evaluate", "student": "builtin:gemma2-tiny",
       "dataset": {"uri": "file:/data/eval.json", "validation_fraction": 1},
       "judge": {"model": {"uri": "openai:http://127.0.0.1:8000/v1", "model": "llama3"},
                 "responses": "model 1 response"}}
      """;

  @Test
  void canonicalFormWritesThePortAndDropsTheTrailingSlash() {
    assertThat(Endpoints.canonical("HTTP://Judge.Example:8000/v1/"))
        .isEqualTo("http://judge.example:8000/v1");
    assertThat(Endpoints.canonical("https://api.example.com/v1"))
        .isEqualTo("https://api.example.com:443/v1");
    assertThat(Endpoints.canonical("http://[::1]:11434/v1")).isEqualTo("http://[::1]:11434/v1");
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "http://evil.example@127.0.0.1:8000/v1",
        "http://127.0.0.1:8000@evil.example/v1",
        "http://127.0.0.1:8000/v1?x=http://evil",
        "http://127.0.0.1:8000/v1#frag",
        "http://127.0.0.1:8000/v1/../admin",
        "http://127.0.0.1:8000/v1/%2e%2e/admin",
        "http://127.0.0.1:8000/v1\\\\@evil",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "http:///v1",
        "http://127.0.0.1:8000//v1",
        "http://127.0.0.1:8000/v 1"
      })
  void refusesEverySpellingThatCouldReachAnotherHostOrPath(String url) {
    assertThatThrownBy(() -> Endpoints.canonical(url)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void anEvaluateJobTakesAnEndpointJudgeAndTheWholeFile() {
    JobSpec spec = json.readValue(EVALUATE_WITH_JUDGE, JobSpec.class);
    assertThat(spec.judge().model().isEndpoint()).isTrue();
    assertThat(spec.judge().model().model()).isEqualTo("llama3");
    assertThat(spec.judge().prompt()).isEqualTo(JudgeSpec.DEFAULT_PROMPT);
    assertThat(spec.judge().responses()).isEqualTo("model 1 response");
    assertThat(spec.dataset().validationFraction()).isEqualTo(1.0);
    assertThat(FileRefs.references(spec))
        .containsEntry("judge.model.uri", "openai:http://127.0.0.1:8000/v1");
    // the round trip keeps the judge
    assertThat(json.readValue(json.writeValueAsString(spec), JobSpec.class)).isEqualTo(spec);
  }

  @Test
  void aSynthesizeTeacherMayBeAnEndpoint() {
    JobSpec spec =
        json.readValue(
            """
            {"type": "synthesize",
             "teacher": {"uri": "openai:http://127.0.0.1:8000/v1", "model": "m", "concurrency": 2},
             "generation": {"pre_query_template": "llama3"}}
            """,
            JobSpec.class);
    assertThat(spec.teacher().concurrencyOrDefault()).isEqualTo(2);
  }

  @Test
  void anEndpointAnywhereElseIsRefusedNamingTheField() {
    assertThat(
            fields(
                """
                {"type": "distill", "teacher": {"uri": "openai:http://h:8000/v1", "model": "m"},
                 "student": {"uri": "openai:http://h:8000/v1", "model": "m"},
                 "dataset": {"uri": "openai:http://h:8000/v1"}}
                """))
        .containsExactlyInAnyOrder("teacher.uri", "student.uri", "dataset.uri");
    assertThat(
            fields(
                """
                {"type": "evaluate", "student": "builtin:gemma2-tiny",
                 "teacher": {"uri": "openai:http://h:8000/v1", "model": "m"},
                 "dataset": {"uri": "builtin:procedural"}}
                """))
        .containsExactly("teacher.uri");
  }

  @Test
  void anEndpointNeedsAModelNameAndTakesNoTokenizer() {
    assertThat(
            fields(
                """
                {"type": "synthesize",
                 "teacher": {"uri": "openai:http://u@h:8000/v1", "tokenizer": "byte",
                             "concurrency": 0}}
                """))
        .containsExactlyInAnyOrder(
            "teacher.uri", "teacher.model", "teacher.tokenizer", "teacher.concurrency");
    assertThat(
            fields(
                """
                {"type": "synthesize", "teacher": {"uri": "builtin:gemma2-tiny", "model": "m"}}
                """))
        .containsExactly("teacher.model");
  }

  @Test
  void judgeSettingsAreChecked() {
    assertThat(
            fields(
                """
                {"type": "evaluate", "student": "builtin:gemma2-tiny",
                 "dataset": {"uri": "builtin:procedural", "format": "chat"},
                 "judge": {"model": "builtin:gemma2-tiny", "prompt": "no placeholder",
                           "min_score": 5, "max_score": 1}}
                """))
        .containsExactlyInAnyOrder("judge.prompt", "judge.max_score", "dataset.format");
    assertThat(
            fields(
                """
                {"type": "finetune", "student": "builtin:gemma2-tiny",
                 "dataset": {"uri": "builtin:procedural", "validation_fraction": 1},
                 "judge": {"model": "builtin:gemma2-tiny"}}
                """))
        .containsExactlyInAnyOrder("judge", "dataset.validation_fraction");
    assertThat(
            fields(
                """
                {"type": "evaluate", "student": "builtin:gemma2-tiny",
                 "dataset": {"uri": "builtin:procedural", "validation_fraction": 0.7}}
                """))
        .containsExactly("dataset.validation_fraction");
  }

  private java.util.List<String> fields(String body) {
    try {
      json.readValue(body, JobSpec.class);
    } catch (RuntimeException e) {
      Throwable t = e;
      while (t.getCause() != null && !(t instanceof InvalidSpecException)) {
        t = t.getCause();
      }
      if (t instanceof InvalidSpecException ise) {
        return ise.violations().stream().map(SpecViolation::field).toList();
      }
      throw e;
    }
    throw new AssertionError("accepted: " + body);
  }
}
