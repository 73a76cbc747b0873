package dev.distill.spec.plan;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.spec.JobSpec;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.json.JsonMapper;

/** What the spec alone tells the plan: builtin presets with a known vocabulary. */
class SpecPlansTest {

  private final JsonMapper json = JsonMapper.builder().build();

  private JobSpec spec(String teacher, String student, String extra) {
    return json.readValue(
        """
        {"type": "distill", "teacher": %s, "student": %s,
         "dataset": {"uri": "builtin:procedural", "max_seq_len": 512}%s}
        """
            .formatted(teacher, student, extra),
        JobSpec.class);
  }

  @Test
  void aBuiltinPairOnTheByteTokenizerIsPlanned() {
    JobSpec s =
        spec(
            "\"builtin:gemma2-demo-teacher\"",
            "{\"uri\": \"builtin:gemma2-tiny\", \"config\": {\"num_hidden_layers\": 3}}",
            ", \"hyperparameters\": {\"batch_size\": 8, \"micro_batch_size\": 4,"
                + " \"activation_checkpointing\": true}");
    PlanInputs in = SpecPlans.inputs(s, Precision.FP32, SpecPlans.SPEC_ONLY).orElseThrow();
    assertThat(in.student().layers()).isEqualTo(3);
    assertThat(in.student().vocabSize()).isEqualTo(ModelShape.BYTE_VOCAB);
    assertThat(in.teacher()).isEqualTo(ModelShape.preset("gemma2-demo-teacher"));
    assertThat(in.microBatch()).isEqualTo(4);
    assertThat(in.seqLen()).isEqualTo(512);
    assertThat(in.checkpointing()).isTrue();
    assertThat(in.training()).isTrue();
    // 2^24 / 272 tokens per chunk, as the trainer sizes it
    assertThat(in.lossChunk()).isEqualTo((1 << 24) / 272);
  }

  @Test
  void aReleasedSizeOnTheByteTokenizerHasTheByteVocabularyUnlessItsConfigSetsOne() {
    PlanInputs bytes =
        SpecPlans.inputs(
                spec("\"builtin:gemma2-9b\"", "\"builtin:gemma2-2b\"", ""),
                Precision.FP32,
                SpecPlans.SPEC_ONLY)
            .orElseThrow();
    assertThat(bytes.student().vocabSize()).isEqualTo(ModelShape.BYTE_VOCAB);
    PlanInputs real =
        SpecPlans.inputs(
                spec(
                    "{\"uri\": \"builtin:gemma2-9b\", \"config\": {\"vocab_size\": 256000}}",
                    "{\"uri\": \"builtin:gemma2-2b\", \"config\": {\"vocab_size\": 256000}}",
                    ""),
                Precision.FP32,
                SpecPlans.SPEC_ONLY)
            .orElseThrow();
    assertThat(real.student()).isEqualTo(ModelShape.preset("gemma2-2b"));
  }

  @Test
  void fileModelsAndTokenizerFilesAreUnknownToTheSpecAlone() {
    assertThat(
            SpecPlans.plan(
                spec("\"file:/models/gemma-2-9b\"", "\"builtin:gemma2-2b\"", ""), Precision.FP32))
        .isEmpty();
    // the student takes the teacher's tokenizer file: its vocabulary is that file's
    assertThat(
            SpecPlans.plan(
                spec(
                    "{\"uri\": \"builtin:gemma2-9b\", \"tokenizer\": \"file:/t/tokenizer.json\","
                        + " \"config\": {\"vocab_size\": 256000}}",
                    "\"builtin:gemma2-2b\"",
                    ""),
                Precision.FP32))
        .isEmpty();
  }

  @Test
  void everyJobTypeIsPlanned() {
    String data = ", \"dataset\": {\"uri\": \"builtin:procedural\", \"validation_fraction\": 0.2}";
    for (String body :
        new String[] {
          "{\"type\": \"finetune\", \"student\": \"builtin:gemma2-tiny\"" + data + "}",
          "{\"type\": \"evaluate\", \"student\": \"builtin:gemma2-tiny\","
              + " \"teacher\": \"builtin:gemma2-demo-teacher\""
              + data
              + "}",
          "{\"type\": \"synthesize\", \"teacher\": \"builtin:gemma2-demo-teacher\"}"
        }) {
      JobSpec spec = json.readValue(body, JobSpec.class);
      MemoryPlan p = SpecPlans.plan(spec, Precision.FP32).orElseThrow();
      assertThat(p.totalBytes()).as(body).isPositive();
      assertThat(p.components().get(MemoryPlan.GRADIENTS) > 0)
          .as(body)
          .isEqualTo(spec.type() == dev.distill.spec.JobType.FINETUNE);
    }
  }

  @Test
  void loraReachesThePlanOfTrainingJobsOnly() {
    JobSpec s =
        spec(
            "\"builtin:gemma2-demo-teacher\"",
            "\"builtin:gemma2-tiny\"",
            ", \"hyperparameters\": {\"lora\": {\"rank\": 4, \"target_modules\": [\"q_proj\"]}}");
    PlanInputs in = SpecPlans.inputs(s, Precision.FP32, SpecPlans.SPEC_ONLY).orElseThrow();
    assertThat(in.lora().rank()).isEqualTo(4);
    // gemma2-tiny: 2 layers x rank 4 x (D 64 + H hd 64)
    assertThat(in.trainableParameters()).isEqualTo(2 * 4 * (64 + 64));
    assertThat(in.cacheTopK()).isNull();
  }

  @Test
  void aDistillJobFromATeacherCachePlansNoTeacherAndTheCachesTopK() {
    String cached =
        """
        {"type": "distill", "teacher_logits": "job:7d3f3c4e-0000-4000-8000-000000000001",
         "student": %s, "dataset": {"uri": "builtin:procedural", "max_seq_len": 64}}
        """;
    JobSpec sized =
        json.readValue(
            cached.formatted(
                "{\"uri\": \"builtin:gemma2-tiny\", \"config\": {\"vocab_size\": 300}}"),
            JobSpec.class);
    PlanInputs in = SpecPlans.inputs(sized, Precision.FP32, SpecPlans.SPEC_ONLY, 32).orElseThrow();
    assertThat(in.teacher()).isNull();
    assertThat(in.cacheTopK()).isEqualTo(32);
    assertThat(MemoryPlan.of(in).components().get(MemoryPlan.TEACHER_CACHE)).isPositive();
    assertThat(
            SpecPlans.inputs(sized, Precision.FP32, SpecPlans.SPEC_ONLY).orElseThrow().cacheTopK())
        .isEqualTo(64);
    // without a tokenizer or vocab_size the student takes the cache's tokenizer: unknown here
    JobSpec unsized = json.readValue(cached.formatted("\"builtin:gemma2-tiny\""), JobSpec.class);
    assertThat(SpecPlans.inputs(unsized, Precision.FP32, SpecPlans.SPEC_ONLY)).isEmpty();
  }
}
