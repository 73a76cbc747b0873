package dev.distill.spec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.util.List;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.ObjectMapper;

/** {@code hyperparameters.lora}: its defaults, every bad field named, and the hash of old specs. */
class LoraSpecTest {

  private final ObjectMapper json = SpecJson.mapper();
  private static final String BASE =
      "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\","
          + "\"dataset\":{\"uri\":\"builtin:procedural\"},\"hyperparameters\":";

  private JobSpec read(String hyperparameters) {
    return json.readValue(BASE + hyperparameters + "}", JobSpec.class);
  }

  /** The violations of a refused spec (Jackson wraps the record's exception). */
  private List<SpecViolation> refused(String hyperparameters) {
    Throwable e = catchThrowable(() -> read(hyperparameters));
    while (e != null && !(e instanceof InvalidSpecException)) {
      e = e.getCause();
    }
    assertThat(e).as(hyperparameters).isInstanceOf(InvalidSpecException.class);
    return ((InvalidSpecException) e).violations();
  }

  @Test
  void anEmptyObjectTakesEveryDefault() {
    LoraSpec lora = read("{\"lora\": {}}").hyperparameters().lora();
    assertThat(lora).isEqualTo(LoraSpec.defaults());
    assertThat(lora.rank()).isEqualTo(8);
    assertThat(lora.alpha()).isEqualTo(16.0);
    assertThat(lora.scale()).isEqualTo(2.0);
    assertThat(lora.dropout()).isEqualTo(0.0);
    assertThat(lora.targetModules())
        .containsExactly(
            "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");
    assertThat(read("{}").hyperparameters().lora()).isNull();
  }

  @Test
  void givenFieldsAreKept() {
    LoraSpec lora =
        read("{\"lora\": {\"rank\": 4, \"alpha\": 8, \"dropout\": 0.1,"
                + " \"target_modules\": [\"Q_PROJ\", \"v_proj\"]}}")
            .hyperparameters()
            .lora();
    assertThat(lora).isEqualTo(new LoraSpec(4, 8.0, 0.1, List.of("q_proj", "v_proj")));
  }

  @Test
  void everyBadFieldIsNamed() {
    assertThat(
            refused(
                "{\"lora\": {\"rank\": 0, \"alpha\": -1, \"dropout\": 1,"
                    + " \"target_modules\": [\"q_proj\", \"lm_head\", \"q_proj\"]}}"))
        .containsExactly(
            new SpecViolation("hyperparameters.lora.rank", "must be between 1 and 4096, was 0"),
            new SpecViolation(
                "hyperparameters.lora.alpha",
                "must be greater than 0 and at most 1000000, was -1.0"),
            new SpecViolation(
                "hyperparameters.lora.dropout", "must be at least 0 and below 1, was 1.0"),
            new SpecViolation(
                "hyperparameters.lora.target_modules[1]",
                "must be one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj,"
                    + " down_proj, was 'lm_head'"),
            new SpecViolation("hyperparameters.lora.target_modules[2]", "names 'q_proj' twice"));
    assertThat(refused("{\"lora\": {\"target_modules\": []}}"))
        .containsExactly(
            new SpecViolation(
                "hyperparameters.lora.target_modules", "must name at least one module"));
    assertThatThrownBy(() -> read("{\"lora\": {\"rank\": 8, \"depth\": 2}}"))
        .isNotInstanceOf(InvalidSpecException.class); // unknown keys refused by the strict reader
  }

  @Test
  void aSpecWithoutLoraSerialisesAsBefore() {
    String written = json.writeValueAsString(Hyperparameters.defaults());
    assertThat(written).doesNotContain("lora");
    assertThat(json.writeValueAsString(Hyperparameters.builder().lora(LoraSpec.defaults()).build()))
        .contains("\"lora\":{\"rank\":8,\"alpha\":16.0,\"dropout\":0.0,\"target_modules\":");
  }
}
