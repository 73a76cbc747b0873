package dev.distill.app.cli;

import dev.distill.app.serve.CheckpointRefs;
import dev.distill.app.serve.ServeOptions;
import dev.distill.app.serve.Serving;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code distill serve --model DIR|job:<id>}: answers OpenAI-compatible completion and chat
 * requests with a checkpoint until stopped (docs/serve.md).
 */
@Command(
    name = "serve",
    description =
        "Serve a checkpoint over OpenAI-compatible HTTP (/v1/completions, /v1/chat/completions, /v1/models).")
public final class ServeCommand implements Callable<Integer> {

  static final String API_KEY_ENV = "DISTILL_SERVE_API_KEY";

  @Spec CommandSpec spec;

  @Mixin Connection conn;

  @Option(
      names = "--model",
      required = true,
      description = "A model directory, job:<id> (its newest checkpoint) or job:<id>@<step>.")
  String model;

  @Option(
      names = "--port",
      defaultValue = "8000",
      description = "Port (default 8000; 0 for any free one).")
  int port;

  @Option(
      names = "--host",
      defaultValue = "127.0.0.1",
      description = "Address to bind (default 127.0.0.1).")
  String host;

  @Option(names = "--device", defaultValue = "cpu", description = "cpu or gpu (default cpu).")
  String device;

  @Option(
      names = "--max-concurrency",
      defaultValue = "4",
      description = "Generation requests taken at once; one more is answered 429 (default 4).")
  int maxConcurrency;

  @Option(
      names = "--api-key-file",
      description =
          "File holding the bearer key clients must send (else env "
              + API_KEY_ENV
              + "; neither: no auth).")
  Path apiKeyFile;

  @Option(
      names = "--name",
      description = "Model id clients send (default: the directory's name, or job:<id>).")
  String name;

  @Option(
      names = "--template",
      description =
          "Chat template (gemma, llama3, phi3, chatml, alpaca); default: the checkpoint's chat_template, else gemma.")
  String template;

  @Override
  public Integer call() throws Exception {
    ServeOptions options = new ServeOptions(host, port, maxConcurrency, apiKey());
    Path dir = CheckpointRefs.resolve(model, conn::jobs);
    Serving serving =
        Serving.start(
            dir,
            name != null ? name : CheckpointRefs.defaultName(model),
            template,
            device,
            options);
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  serving.close();
                  stopped.countDown();
                },
                "serve-shutdown"));
    PrintWriter out = spec.commandLine().getOut();
    out.println(
        "model "
            + serving.modelName()
            + " from "
            + dir
            + ", chat template "
            + serving.chatTemplate());
    out.println(
        "serving on "
            + serving.baseUrl()
            + (options.apiKey() == null ? " (no API key)" : " (API key required)"));
    out.flush();
    stopped.await();
    return 0;
  }

  private String apiKey() throws IOException {
    if (apiKeyFile != null) {
      if (!Files.isReadable(apiKeyFile)) {
        throw new IllegalArgumentException("--api-key-file " + apiKeyFile + ": not readable");
      }
      String key = Files.readString(apiKeyFile).strip();
      if (key.isEmpty()) {
        throw new IllegalArgumentException("--api-key-file " + apiKeyFile + ": empty");
      }
      return key;
    }
    String env = System.getenv(API_KEY_ENV);
    return env == null || env.isBlank() ? null : env.strip();
  }
}
