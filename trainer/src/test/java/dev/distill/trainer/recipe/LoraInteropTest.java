package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.distill.spec.JobSpec;
import dev.distill.spec.LoraSpec;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.model.NoGrad;
import dev.distill.trainer.model.gemma2.Gemma2Lora;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The adapter of a LoRA run, in the real client: Hugging Face PEFT 0.21.0 ({@code
 * PeftModel.from_pretrained} over transformers' {@code Gemma2ForCausalLM} built from our base
 * checkpoint, in the interop venv) computes our model's logits within 1e-4; the checkpoint {@code
 * distill merge} writes loads in plain transformers with the same logits; and PEFT's own {@code
 * save_pretrained} of the adapter reads back into ours with the same tensors.
 */
class LoraInteropTest {

  private static final JsonMapper JSON = JsonMapper.builder().build();

  @TempDir Path tmp;

  /**
   * Trained in fp32, or in bf16-mixed, whose base is written as held (BF16 matrices, F32 norms):
   * either way the adapter and its base load in PEFT, compared in fp32 on both sides.
   */
  @ParameterizedTest
  @ValueSource(strings = {"fp32", "bf16-mixed"})
  void peftLoadsOurAdapterAndTransformersOurMergedModelWithTheSameLogits(String precision)
      throws Exception {
    InteropPython.require(); // fail at once, not after training, when the venv is missing
    JobSpec spec =
        RecipeSpecs.aFinetune()
            .student(ModelRef.of("builtin:gemma2-tiny"))
            .steps(20)
            .batch(4)
            .learningRate(2e-2)
            .precision(precision)
            .lora(new LoraSpec(4, 16.0, 0.1, null)) // scale 4: the adapters weigh in the logits
            .evalEvery(0)
            .build();
    RunResult run = Recipes.run(spec, new RunContext(tmp.resolve("run"), Map.of(), null, null));
    Path adapter = run.lastCheckpoint().dir();
    Path base = Gemma2Lora.baseOf(adapter);
    assertThat(base)
        .isEqualTo(tmp.resolve("run/checkpoints").resolve(TrainingRecipe.LORA_BASE_DIR));
    // the base as held: fp32, or under bf16-mixed BF16 matrices (torch_dtype bfloat16)
    assertThat(JSON.readTree(base.resolve("config.json").toFile()).get("torch_dtype").asString())
        .isEqualTo(precision.equals("fp32") ? "float32" : "bfloat16");
    Path merged = tmp.resolve("merged");
    LoraMerge.Result result = LoraMerge.merge(adapter, null, merged);
    assertThat(result.adaptedProjections()).isEqualTo(14);
    assertThat(merged.resolve(Gemma2Lora.CONFIG_FILE)).doesNotExist();
    assertThat(merged.resolve("tokenizer.json")).isRegularFile();

    // 48 ids: past gemma2-tiny's sliding window of 32, so the local layers' mask is compared too
    long[] ids = IntStream.range(0, 48).mapToLong(i -> (i * 37L + 11) % 272).toArray();
    float[] ours;
    float[] oursMerged;
    try (NDManager manager = NDManager.newBaseManager();
        NoGrad noGrad = NoGrad.enter();
        Models.Loaded lora = Models.load(adapter, null, manager);
        Gemma2Model plain = Gemma2Model.load(merged, manager)) {
      assertThat(lora.model().adapters()).isNotNull();
      NDArray input = manager.create(ids, new Shape(1, ids.length)); // (1, T)
      ours = lora.model().forward(input, null).toFloatArray(); // (1, T, V)
      oursMerged = plain.forward(input, null).toFloatArray(); // (1, T, V)
    }
    assertThat(maxDiff(oursMerged, ours))
        .as("our merged model against our adapter")
        .isLessThan(1e-4);

    Path out = Files.createDirectories(tmp.resolve("peft"));
    Path request = tmp.resolve("ids.json");
    JSON.writeValue(request.toFile(), Arrays.stream(ids).boxed().toList());
    InteropPython.run(
        tmp,
        "peft_load.py",
        base.toString(),
        adapter.toString(),
        merged.toString(),
        request.toString(),
        out.toString());
    JsonNode py = JSON.readTree(out.resolve("result.json").toFile());
    assertThat(py.get("config_class").asString()).isEqualTo("LoraConfig");
    assertThat(py.get("r").asInt()).isEqualTo(4);
    assertThat(py.get("lora_a_modules").asInt()).isEqualTo(14);
    assertThat(py.get("lora_b_modules").asInt()).isEqualTo(14);
    assertThat(py.get("scaling").get(0).asDouble()).isEqualTo(4.0);
    assertThat(py.get("lora_b_abs_max").asDouble()).as("PEFT read our trained B").isGreaterThan(0);
    assertThat(py.get("merged_class").asString()).isEqualTo("Gemma2ForCausalLM");
    assertThat(py.get("merged_dtype").asString()).isEqualTo("torch.float32");

    float[] peft = readFloats(out.resolve("peft_logits.f32"));
    float[] transformersMerged = readFloats(out.resolve("merged_logits.f32"));
    float[] baseOnly = readFloats(out.resolve("base_logits.f32"));
    assertThat(peft).hasSize(ours.length);
    System.out.printf(
        "max |logit difference|: PEFT %.3g, transformers merged %.3g, ours merged %.3g, base %.3g%n",
        maxDiff(peft, ours),
        maxDiff(transformersMerged, ours),
        maxDiff(oursMerged, ours),
        maxDiff(baseOnly, ours));
    assertThat(maxDiff(peft, ours)).as("PEFT over the base against ours").isLessThan(1e-4);
    assertThat(maxDiff(transformersMerged, ours))
        .as("our merged checkpoint in transformers against ours")
        .isLessThan(1e-4);
    // the comparison is not vacuous: without the adapter the logits are elsewhere
    assertThat(maxDiff(baseOnly, ours)).as("the base alone against ours").isGreaterThan(1e-2);

    // PEFT's own save of the adapter reads back into ours with the same tensors
    Path resaved = out.resolve("resaved");
    try (NDManager manager = NDManager.newBaseManager();
        Gemma2Model baseModel = Gemma2Model.load(base, manager);
        Gemma2Lora ourAdapter = Gemma2Lora.load(adapter, baseModel.config(), manager);
        Gemma2Lora theirs = Gemma2Lora.load(resaved, baseModel.config(), manager)) {
      assertThat(theirs.spec()).isEqualTo(ourAdapter.spec());
      for (String name : List.copyOf(ourAdapter.parameters().keySet())) {
        assertThat(theirs.parameters().get(name).toFloatArray())
            .as(name)
            .containsExactly(ourAdapter.parameters().get(name).toFloatArray());
      }
    }
  }

  private static double maxDiff(float[] a, float[] b) {
    assertThat(a).hasSameSizeAs(b);
    double max = 0;
    for (int i = 0; i < a.length; i++) {
      max = Math.max(max, Math.abs(a[i] - b[i]));
    }
    return max;
  }

  private static float[] readFloats(Path file) throws Exception {
    ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
    float[] out = new float[b.remaining() / 4];
    b.asFloatBuffer().get(out);
    return out;
  }
}
