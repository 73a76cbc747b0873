package dev.distill.spec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/** The builder names what the JSON names; what it leaves unset takes the JSON's defaults. */
class HyperparametersTest {

  private final ObjectMapper json = JsonMapper.builder().build();

  @Test
  void theBuilderMakesWhatTheJsonMakes() {
    Hyperparameters built =
        Hyperparameters.builder()
            .maxSteps(20)
            .microBatchSize(4)
            .learningRate(5e-3)
            .kdLoss("JSD")
            .jsdBeta(0.25)
            .seed(42L)
            .lossChunkSize(16)
            .build();
    Hyperparameters parsed =
        json.readValue(
            """
            {"max_steps": 20, "micro_batch_size": 4, "learning_rate": 5e-3, "kd_loss": "JSD",
             "jsd_beta": 0.25, "seed": 42, "loss_chunk_size": 16}
            """,
            Hyperparameters.class);
    assertThat(built).isEqualTo(parsed);
    assertThat(built.batchSize()).isEqualTo(8);
    assertThat(built.warmupSteps()).isEqualTo(2); // max_steps / 10
    assertThat(built.kdLoss()).isEqualTo("jsd");
    assertThat(Hyperparameters.builder().build())
        .isEqualTo(json.readValue("{}", Hyperparameters.class))
        .isEqualTo(Hyperparameters.defaults());
  }

  @Test
  void anUnknownKdLossListsTheNames() {
    Hyperparameters hp = Hyperparameters.builder().kdLoss("kl").build();
    assertThatThrownBy(
            () ->
                new JobSpec(
                    JobType.FINETUNE,
                    null,
                    ModelRef.of("builtin:gemma2-tiny"),
                    DatasetSpec.procedural(),
                    hp,
                    null,
                    null,
                    null,
                    null,
                    null))
        .isInstanceOfSatisfying(
            InvalidSpecException.class,
            e ->
                assertThat(e.violations())
                    .containsExactly(
                        new SpecViolation(
                            "hyperparameters.kd_loss",
                            "must be one of forward_kl, reverse_kl, jsd, was 'kl'")));
  }
}
