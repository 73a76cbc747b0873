package dev.distill.spec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
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
            .batchSize(16)
            .microBatchSize(4)
            .learningRate(5e-3)
            .minLrRatio(0.2)
            .warmupSteps(3)
            .weightDecay(0.05)
            .beta1(0.8)
            .beta2(0.9)
            .gradClip(2.0)
            .temperature(1.5)
            .kdRatio(0.7)
            .kdLoss("JSD")
            .jsdBeta(0.25)
            .seed(42L)
            .checkpointEvery(7)
            .keepCheckpoints(2)
            .evalEvery(5)
            .lossChunkSize(16)
            .precision("BF16-Mixed")
            .activationCheckpointing(true)
            .build();
    Hyperparameters parsed =
        json.readValue(
            """
            {"max_steps": 20, "batch_size": 16, "micro_batch_size": 4, "learning_rate": 5e-3,
             "min_lr_ratio": 0.2, "warmup_steps": 3, "weight_decay": 0.05, "beta1": 0.8,
             "beta2": 0.9, "grad_clip": 2.0, "temperature": 1.5, "kd_ratio": 0.7,
             "kd_loss": "JSD", "jsd_beta": 0.25, "seed": 42, "checkpoint_every": 7,
             "keep_checkpoints": 2, "eval_every": 5, "loss_chunk_size": 16,
             "precision": "bf16-mixed",
             "activation_checkpointing": true}
            """,
            Hyperparameters.class);
    assertThat(built).isEqualTo(parsed);
    assertThat(built.kdLoss()).isEqualTo("jsd");
    assertThat(built.precision()).isEqualTo("bf16-mixed");
    assertThat(Hyperparameters.defaults().precision())
        .as("unset: the worker chooses from its device")
        .isNull();
    // what is left unset takes the JSON's defaults
    Hyperparameters few = Hyperparameters.builder().maxSteps(20).build();
    assertThat(few).isEqualTo(json.readValue("{\"max_steps\": 20}", Hyperparameters.class));
    assertThat(few.warmupSteps()).isEqualTo(2); // max_steps / 10
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

  @Test
  void anUnsetPrecisionIsLeftOutOfTheJson() {
    // the spec hash of a checkpoint is taken over this JSON: specs written before the field existed
    // must hash as they did, or an upgraded worker refuses to resume their checkpoints
    assertThat(json.writeValueAsString(Hyperparameters.defaults()))
        .doesNotContain("precision")
        .doesNotContain("activation_checkpointing");
    assertThat(json.writeValueAsString(Hyperparameters.builder().precision("fp32").build()))
        .contains("\"precision\":\"fp32\"");
  }

  @Test
  void anUnknownPrecisionListsTheNames() {
    Hyperparameters hp = Hyperparameters.builder().precision("fp16").build();
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
                            "hyperparameters.precision",
                            "must be one of fp32, bf16-mixed, bf16, was 'fp16'")));
  }

  private static List<SpecViolation> violations(Hyperparameters hp) {
    try {
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
          null);
      return List.of();
    } catch (InvalidSpecException e) {
      return e.violations();
    }
  }

  @Test
  void pureBf16RefusesClippingAndAccumulationNamingTheFields() {
    // unset, grad_clip is 0 under bf16 (else 1): a bf16 spec is valid without naming it
    Hyperparameters plain = Hyperparameters.builder().precision("bf16").build();
    assertThat(plain.gradClip()).isZero();
    assertThat(violations(plain)).isEmpty();
    assertThat(Hyperparameters.builder().precision("bf16-mixed").build().gradClip()).isEqualTo(1.0);
    List<SpecViolation> bad =
        violations(
            Hyperparameters.builder()
                .precision("bf16")
                .gradClip(1.0)
                .batchSize(8)
                .microBatchSize(4)
                .lora(new LoraSpec(4, 8.0, 0.0, null))
                .build());
    assertThat(bad)
        .extracting(SpecViolation::field)
        .containsExactly(
            "hyperparameters.grad_clip",
            "hyperparameters.micro_batch_size",
            "hyperparameters.lora");
    assertThat(bad.get(0).message())
        .startsWith("must be 0 with precision bf16: precision bf16 updates each layer during the")
        .endsWith("no global gradient norm to clip by; was 1.0");
    assertThat(bad.get(1).message()).contains("must equal batch_size (8)").endsWith("was 4");
  }
}
