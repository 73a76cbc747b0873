package dev.distill.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import ai.djl.ndarray.NDManager;
import dev.distill.trainer.generate.Generation;
import dev.distill.trainer.generate.GenerationConfig;
import dev.distill.trainer.generate.GenerationOptions;
import dev.distill.trainer.generate.Generator;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.tokenize.Tokenizer;
import dev.distill.trainer.tokenize.Tokenizers;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * A checkpoint trained by a worker is served by {@code distill serve --model job:<id>} (its own
 * process, resolving the checkpoint through the control plane, with an API key) and answers the
 * {@code openai} Python package (from the interop venv) as a user calls it: models, completions,
 * chat, streaming, logprobs, n, stop, and the client's own exceptions for bad requests. The served
 * greedy text is what our generator and transformers' greedy {@code generate} write for the same
 * prompt and checkpoint.
 */
class ServeOpenAiClientTest {

  static final String VENV_PYTHON = ".venv-interop/bin/python";
  static final String REQUIREMENTS = ".ci/requirements-interop.txt";
  static final String RAW_PROMPT =
      "<bos><start_of_turn>user\nCount to three.<end_of_turn>\n<start_of_turn>model\n";

  static Cluster cluster;

  @TempDir Path tmp;

  @BeforeAll
  static void start() throws Exception {
    python(); // fail at once, not after training, when the venv is missing
    cluster = new Cluster("6s");
  }

  @AfterAll
  static void stop() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  @Timeout(value = 15, unit = TimeUnit.MINUTES)
  void theOpenAiPackageTalksToAServedCheckpoint() throws Exception {
    Path data = Files.createTempDirectory("distill-e2e-serve-").resolve("data.jsonl");
    List<String> lines = new ArrayList<>();
    for (var e :
        Map.of(
                "Say hi.", "hi there",
                "Name a colour.", "blue",
                "Count to three.", "one two three",
                "What is ice?", "frozen water")
            .entrySet()) {
      lines.add(
          Cluster.JSON.writeValueAsString(
              Map.of("instruction", e.getKey(), "input", "", "output", e.getValue())));
    }
    Files.write(data, lines);
    String id =
        cluster.createJob(
            """
            {"type": "finetune", "student": "builtin:gemma2-tiny",
             "dataset": {"uri": "file:%s", "format": "alpaca", "template": "gemma",
                         "max_seq_len": 128, "validation_fraction": 0.0},
             "hyperparameters": {"max_steps": 60, "batch_size": 4, "learning_rate": 0.01,
                                 "checkpoint_every": 1000, "eval_every": 0, "seed": 7}}
            """
                .formatted(data));
    cluster.startWorker("w-serve");
    JsonNode job = cluster.awaitStatus(id, Duration.ofMinutes(6), "SUCCEEDED", "FAILED");
    assertThat(job.get("status").asString()).as("job %s", job).isEqualTo("SUCCEEDED");
    Path checkpoint = Path.of(job.get("output_uri").asString().substring("file:".length()));
    cluster.stopWorkers();

    Path keyFile = tmp.resolve("api-key");
    Files.writeString(keyFile, "sk-e2e-serve-key\n");
    Cli cli =
        new Cli(
            tmp.resolve("cli"),
            Map.of("DISTILL_URL", cluster.base.toString(), "DISTILL_TOKEN", Cluster.ADMIN_TOKEN));
    Cli.Started serve =
        cli.withJvmOptions("-Xmx1g")
            .start(
                "serve",
                "--model",
                "job:" + id,
                "--port",
                "0",
                "--api-key-file",
                keyFile.toString(),
                "--max-concurrency",
                "2");
    try {
      serve.awaitOutput("serving on ", Duration.ofSeconds(120));
      Matcher m = Pattern.compile("serving on (http://\\S+/v1)").matcher(serve.out());
      assertThat(m.find()).as(serve.out()).isTrue();
      assertThat(serve.out()).contains("chat template gemma", checkpoint.toString());

      Path result = tmp.resolve("result.json");
      runScript(
          "serve_client.py",
          m.group(1),
          "sk-e2e-serve-key",
          checkpoint.toString(),
          result.toString());
      JsonNode r = Cluster.JSON.readTree(result.toFile());

      assertThat(r.get("models").get(0).asString()).isEqualTo("job:" + id);
      // the trained answer, through the chat template, and the raw prompt rendered the same way
      assertThat(r.get("chat").get("content").asString()).isEqualTo("one two three");
      assertThat(r.get("chat").get("finish_reason").asString()).isEqualTo("stop");
      assertThat(r.get("chat").get("role").asString()).isEqualTo("assistant");
      String ours = ourGreedy(checkpoint, RAW_PROMPT, 24).text();
      assertThat(r.get("completion").get("text").asString())
          .isEqualTo(ours)
          .isEqualTo("one two three");
      assertThat(r.get("transformers_greedy").asString()).isEqualTo(ours);
      JsonNode usage = r.get("completion").get("usage");
      assertThat(usage.get("completion_tokens").asInt()).isEqualTo("one two three".length());
      assertThat(usage.get("total_tokens").asInt())
          .isEqualTo(usage.get("prompt_tokens").asInt() + usage.get("completion_tokens").asInt());

      // streamed: the chunks join to the unstreamed text, greedy and sampled with a seed
      assertThat(r.get("stream").get("text").asString())
          .isEqualTo(r.get("chat").get("content").asString());
      assertThat(r.get("stream").get("finish_reason").asString()).isEqualTo("stop");
      assertThat(r.get("stream").get("roles")).hasSize(1);
      assertThat(r.get("stream").get("chunks").asInt()).isGreaterThan(2);
      assertThat(r.get("sampled_stream").get("text").asString())
          .isEqualTo(r.get("sampled").asString());
      assertThat(r.get("completion_stream").asString()).isEqualTo(ours);

      JsonNode lp = r.get("completion_logprobs");
      assertThat(lp.get("tokens")).hasSize(4);
      assertThat(String.join("", strings(lp.get("tokens")))).isEqualTo("one ");
      for (JsonNode v : lp.get("token_logprobs")) {
        assertThat(v.asDouble()).isBetween(-5.0, 0.0);
      }
      assertThat(lp.get("top_logprobs").get(0).has("o"))
          .isTrue(); // the chosen token is the top one
      JsonNode clp = r.get("chat_logprobs");
      assertThat(clp).hasSize(4);
      assertThat(clp.get(0).get("top")).hasSize(2);
      assertThat(clp.get(0).get("top").get(0).get(0).asString())
          .isEqualTo(clp.get(0).get("token").asString());

      assertThat(r.get("n2")).hasSize(2);
      assertThat(r.get("n2").get(1).get("index").asInt()).isEqualTo(1);
      assertThat(r.get("stop").get("text").asString()).isEqualTo("one");
      assertThat(r.get("stop").get("finish_reason").asString()).isEqualTo("stop");

      JsonNode errors = r.get("errors");
      assertThat(errors.get("bad_temperature").get("class").asString())
          .isEqualTo("BadRequestError");
      assertThat(errors.get("bad_temperature").get("status").asInt()).isEqualTo(400);
      assertThat(errors.get("bad_temperature").get("param").asString()).isEqualTo("temperature");
      assertThat(errors.get("bad_temperature").get("type").asString())
          .isEqualTo("invalid_request_error");
      assertThat(errors.get("unknown_model").get("class").asString()).isEqualTo("NotFoundError");
      assertThat(errors.get("unknown_model").get("code").asString()).isEqualTo("model_not_found");
      assertThat(errors.get("no_key").get("class").asString()).isEqualTo("AuthenticationError");
      assertThat(errors.get("no_key").get("status").asInt()).isEqualTo(401);
    } finally {
      serve.process().destroy(); // SIGTERM: the shutdown hook closes the server
      assertThat(serve.process().waitFor(30, TimeUnit.SECONDS))
          .as("serve stops on SIGTERM")
          .isTrue();
    }
  }

  /** Our own generator on the checkpoint, greedy, stopping where generation_config.json says. */
  static Generation ourGreedy(Path dir, String prompt, int maxTokens) {
    try (NDManager m = NDManager.newBaseManager();
        Gemma2Model lm = Gemma2Model.load(dir, m);
        Tokenizer tok = Tokenizers.load(dir)) {
      List<Integer> ids = Arrays.stream(tok.encode(prompt)).boxed().toList();
      return new Generator(lm, m, lm.config().maxPositionEmbeddings())
          .generate(
              ids,
              GenerationOptions.greedy(maxTokens, GenerationConfig.read(dir).stopTokenIds()),
              x -> tok.decode(x.stream().mapToInt(Integer::intValue).toArray(), true));
    }
  }

  private static List<String> strings(JsonNode array) {
    List<String> out = new ArrayList<>();
    array.forEach(n -> out.add(n.asString()));
    return out;
  }

  /**
   * The interop venv's python, found above the working directory; fails (never skips) without it.
   */
  static Path python() {
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      if (Files.isRegularFile(p.resolve(REQUIREMENTS))) {
        Path python = p.resolve(VENV_PYTHON);
        if (!Files.isExecutable(python)) {
          fail(
              "the interop venv is missing: %s. Run .ci/run, or from %s: python3 -m venv"
                  + " .venv-interop && .venv-interop/bin/pip install -r %s",
              python, p, REQUIREMENTS);
        }
        return python;
      }
    }
    throw new AssertionError("no " + REQUIREMENTS + " above " + Path.of("").toAbsolutePath());
  }

  private void runScript(String script, String... args) throws Exception {
    Path file = tmp.resolve(script);
    try (InputStream in = getClass().getResourceAsStream("/interop/" + script)) {
      assertThat(in).as("test resource interop/" + script).isNotNull();
      Files.copy(in, file);
    }
    List<String> command = new ArrayList<>(List.of(python().toString(), file.toString()));
    command.addAll(List.of(args));
    Path log = tmp.resolve(script + ".log");
    ProcessBuilder pb =
        new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().put("HF_HUB_OFFLINE", "1");
    pb.environment().put("TRANSFORMERS_OFFLINE", "1");
    pb.environment().put("OMP_NUM_THREADS", "2");
    pb.environment().remove("OPENAI_API_KEY");
    pb.environment().remove("OPENAI_BASE_URL");
    Process p = pb.start();
    if (!p.waitFor(10, TimeUnit.MINUTES)) { // a bound on a hung interpreter, not a timing check
      p.destroyForcibly();
      fail("%s did not finish in 10 minutes:%n%s", script, Files.readString(log));
    }
    if (p.exitValue() != 0) {
      fail("%s exited %d:%n%s", script, p.exitValue(), Files.readString(log));
    }
  }
}
