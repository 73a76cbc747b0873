package dev.distill.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.distill.spec.DatasetSpec;
import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.data.PromptTemplate;
import dev.distill.trainer.generate.Generation;
import dev.distill.trainer.generate.GenerationConfig;
import dev.distill.trainer.generate.GenerationOptions;
import dev.distill.trainer.generate.Generator;
import dev.distill.trainer.model.NoGrad;
import dev.distill.trainer.tokenize.Tokenizer;
import dev.distill.trainer.tokenize.TokenizerFixtures;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A checkpoint we train loads in transformers 5.17 ({@code Gemma2ForCausalLM.from_pretrained(dir,
 * attn_implementation="eager")} and {@code AutoTokenizer.from_pretrained(dir)}, in the interop
 * venv) and computes what our model computes: the same token ids, logits within 1e-4, and the same
 * greedy generation, which stops where ours does (at the template's end-of-turn token or EOS, from
 * {@code generation_config.json}). Once with the byte tokenizer and the gemma template, once with
 * GPT-2's tokenizer (a {@code file:} tokenizer, 50,257 ids, EOS 50256) and the alpaca template.
 */
class HuggingFaceInteropTest {

  private static final JsonMapper JSON = JsonMapper.builder().build();
  private static final int MAX_NEW_TOKENS = 24;

  /** Short answers the model learns by heart, so that greedy generation ends with a stop token. */
  private static final Map<String, String> EXAMPLES =
      Map.of(
          "Say hi.", "hi there",
          "Name a colour.", "blue",
          "Count to three.", "one two three",
          "What is ice?", "frozen water");

  @TempDir Path tmp;

  @ParameterizedTest(name = "{0} tokenizer, {1} template")
  @CsvSource({"byte, gemma, 2 5", "gpt2, alpaca, 50256"})
  void transformersLoadsOurCheckpointAndComputesTheSame(
      String tokenizerName, String templateName, String expectedEos) throws Exception {
    InteropPython.require(); // fail at once, not after training, when the venv is missing
    String tokenizerRef =
        tokenizerName.equals("byte")
            ? null
            : "file:" + TokenizerFixtures.writeGpt2(Files.createDirectories(tmp.resolve("gpt2")));
    Path dir = train(tokenizerRef, templateName);
    for (String f :
        List.of("config.json", "tokenizer.json", "tokenizer_config.json", GenerationConfig.FILE)) {
      assertThat(dir.resolve(f)).as(f).isRegularFile();
    }
    List<Integer> eos = Arrays.stream(expectedEos.split(" ")).map(Integer::valueOf).toList();
    assertThat(GenerationConfig.read(dir).eosTokenIds()).isEqualTo(eos);

    PromptTemplate template = PromptTemplate.of(templateName);
    String question = "Count to three.";
    try (NDManager manager = NDManager.newBaseManager();
        Models.Loaded m = Models.load(dir, null, manager);
        NoGrad noGrad = NoGrad.enter()) {
      Tokenizer tok = m.tokenizer();
      String prompt = template.generationPrompt(question, tok.bosToken());
      // past the sliding window (32 in gemma2-tiny), so the local layers' mask is compared too
      String text =
          prompt + EXAMPLES.get(question) + " and then some more words, to pass the window of 32.";
      int[] textIds = tok.encode(text);
      assertThat(textIds.length).isGreaterThan(40);
      int[] promptIds = tok.encode(prompt);

      NDArray input = manager.create(toLongs(textIds), new Shape(1, textIds.length));
      float[] ours = m.model().forward(input, null).toFloatArray(); // (1, T, V) flat
      Generation generated =
          new Generator(m.model(), manager, m.model().config().maxPositionEmbeddings())
              .generate(
                  boxed(promptIds),
                  GenerationOptions.greedy(
                      MAX_NEW_TOKENS, GenerationConfig.read(dir).stopTokenIds()),
                  ids -> tok.decode(ids.stream().mapToInt(Integer::intValue).toArray(), true));
      assertThat(generated.stopReason())
          .as("our greedy generation ends at a stop token: %s", generated)
          .isEqualTo(Generation.StopReason.STOP_TOKEN);
      assertThat(generated.text()).isEqualTo(EXAMPLES.get(question));

      Path out = Files.createDirectories(tmp.resolve("hf"));
      Path request = tmp.resolve("request.json");
      Map<String, Object> req = new LinkedHashMap<>();
      req.put("text", text);
      req.put("prompt", prompt);
      req.put("max_new_tokens", MAX_NEW_TOKENS);
      JSON.writeValue(request.toFile(), req);
      InteropPython.run(tmp, "hf_load.py", dir.toString(), request.toString(), out.toString());
      JsonNode hf = JSON.readTree(out.resolve("result.json").toFile());

      assertThat(hf.get("config_class").asString()).isEqualTo("Gemma2Config");
      assertThat(hf.get("dtype").asString()).isEqualTo("torch.float32");
      int vocab = m.model().vocabSize();
      assertThat(hf.get("vocab_size").asInt()).isEqualTo(vocab);
      assertThat(vocab).isEqualTo(tok.vocabSize());
      assertThat(ints(hf.get("text_ids"))).as("AutoTokenizer's ids").containsExactly(textIds);
      assertThat(ints(hf.get("prompt_ids"))).containsExactly(promptIds);
      assertThat(hf.get("eos_token_id").asInt()).isEqualTo(tok.eosId());
      assertThat(hf.get("bos_token_id").asInt()).isEqualTo(tok.bosId());
      assertThat(hf.get("pad_token_id").asInt()).isEqualTo(tok.padId());
      assertThat(List.of(boxed(ints(hf.get("generation_eos_token_id"))).toArray())).isEqualTo(eos);

      float[] theirs = readFloats(out.resolve("logits.f32"));
      assertThat(theirs).hasSize(ours.length);
      double maxDiff = 0;
      for (int i = 0; i < ours.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(ours[i] - theirs[i]));
      }
      assertThat(maxDiff).as("max |logit difference| over %d values", ours.length).isLessThan(1e-4);

      // transformers keeps the stop token in its output; ours ends before it
      List<Integer> hfIds = boxed(ints(hf.get("generated_ids")));
      assertThat(hfIds).hasSize(generated.tokens().size() + 1);
      assertThat(hfIds.subList(0, generated.tokens().size())).isEqualTo(generated.tokens());
      assertThat(eos).contains(hfIds.get(hfIds.size() - 1));
      assertThat(hf.get("generated_text").asString()).isEqualTo(generated.text());
    }
  }

  /** Fine-tunes gemma2-tiny on the examples until it knows them; returns the final checkpoint. */
  private Path train(String tokenizerRef, String template) throws Exception {
    Path data = tmp.resolve("data.jsonl");
    List<String> lines = new ArrayList<>();
    for (var e : EXAMPLES.entrySet()) {
      lines.add(
          JSON.writeValueAsString(
              Map.of("instruction", e.getKey(), "input", "", "output", e.getValue())));
    }
    Files.write(data, lines);
    DatasetSpec dataset =
        new DatasetSpec("file:" + data, "alpaca", template, 128, 0.0, null, null, null, 7L);
    JobSpec spec =
        RecipeSpecs.finetune(
            new ModelRef("builtin:gemma2-tiny", null, tokenizerRef),
            dataset,
            RecipeSpecs.hp(60, 4, 4, 1e-2, 1000, 1, 0));
    RunResult result = Recipes.run(spec, new RunContext(tmp.resolve("run"), Map.of(), null, null));
    assertThat(result.outcome()).isEqualTo(RunResult.Outcome.COMPLETED);
    return result.lastCheckpoint().dir();
  }

  private static long[] toLongs(int[] ids) {
    return Arrays.stream(ids).asLongStream().toArray();
  }

  private static List<Integer> boxed(int[] ids) {
    return Arrays.stream(ids).boxed().toList();
  }

  private static int[] ints(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asInt();
    }
    return out;
  }

  private static float[] readFloats(Path file) throws Exception {
    ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
    float[] out = new float[b.remaining() / 4];
    b.asFloatBuffer().get(out);
    return out;
  }
}
