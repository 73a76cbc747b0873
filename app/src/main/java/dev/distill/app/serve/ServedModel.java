package dev.distill.app.serve;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import dev.distill.trainer.data.Example;
import dev.distill.trainer.data.Message;
import dev.distill.trainer.data.PromptTemplate;
import dev.distill.trainer.generate.Generation;
import dev.distill.trainer.generate.GenerationConfig;
import dev.distill.trainer.generate.GenerationOptions;
import dev.distill.trainer.generate.Generator;
import dev.distill.trainer.generate.TokenLogprob;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.tokenize.ByteTokenizer;
import dev.distill.trainer.tokenize.Tokenizer;
import dev.distill.trainer.tokenize.Tokenizers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * One checkpoint loaded for serving: the model, its tokenizer, the ids that end a generation
 * ({@code generation_config.json}) and the chat template. Generation is serialised: one request's
 * generation runs at a time, in arrival order (a fair lock); there is no batching.
 */
final class ServedModel implements AutoCloseable {

  private final String name;
  private final NDManager manager;
  private final Gemma2Model model;
  private final Tokenizer tokenizer;
  private final Set<Integer> stopTokenIds;
  private final ChatTemplates.Choice template;
  private final Generator generator;
  private final ReentrantLock generating = new ReentrantLock(true);

  private ServedModel(
      String name,
      NDManager manager,
      Gemma2Model model,
      Tokenizer tokenizer,
      Set<Integer> stopTokenIds,
      ChatTemplates.Choice template) {
    this.name = name;
    this.manager = manager;
    this.model = model;
    this.tokenizer = tokenizer;
    this.stopTokenIds = Set.copyOf(stopTokenIds);
    this.template = template;
    this.generator = new Generator(model, manager, model.config().maxPositionEmbeddings());
  }

  /**
   * Loads a Hugging Face {@code Gemma2ForCausalLM} directory (a checkpoint of ours).
   *
   * @param name the model id clients send
   * @param templateOverride a template name, or null to take the checkpoint's
   * @param device {@code cpu} or {@code gpu}
   */
  static ServedModel load(Path dir, String name, String templateOverride, String device) {
    if (!Files.isDirectory(dir) || !Files.isRegularFile(dir.resolve("config.json"))) {
      throw new IllegalArgumentException(dir + ": not a model directory (no config.json)");
    }
    ChatTemplates.Choice template = ChatTemplates.choose(dir, templateOverride);
    Tokenizer tokenizer =
        Files.isRegularFile(dir.resolve("tokenizer.json"))
            ? Tokenizers.load(dir)
            : ByteTokenizer.instance();
    NDManager manager = NDManager.newBaseManager(device(device));
    try {
      Gemma2Model model = Gemma2Model.load(dir, manager);
      Set<Integer> stops = new HashSet<>();
      if (Files.isRegularFile(dir.resolve(GenerationConfig.FILE))) {
        stops.addAll(GenerationConfig.read(dir).stopTokenIds());
      } else { // no generation_config.json: the model's EOS and the template's end of turn
        stops.addAll(model.config().eosTokenIds());
        stops.addAll(tokenizer.endOfTurnIds(List.of(template.template().endOfTurn())));
        stops.remove(-1);
      }
      return new ServedModel(name, manager, model, tokenizer, stops, template);
    } catch (RuntimeException e) {
      manager.close();
      throw e;
    }
  }

  private static Device device(String device) {
    return switch (device) {
      case "cpu" -> Device.cpu();
      case "gpu" -> {
        if (Engine.getInstance().getGpuCount() == 0) {
          throw new IllegalArgumentException("--device gpu: the engine sees no GPU");
        }
        yield Device.gpu();
      }
      default -> throw new IllegalArgumentException("--device " + device + ": expected cpu or gpu");
    };
  }

  String name() {
    return name;
  }

  ChatTemplates.Choice template() {
    return template;
  }

  /** The context length: a prompt must be shorter. */
  int contextLength() {
    return model.config().maxPositionEmbeddings();
  }

  Set<Integer> stopTokenIds() {
    return stopTokenIds;
  }

  /**
   * A raw prompt's ids: nothing is added (special-token strings such as {@code <bos>} map to their
   * ids).
   */
  List<Integer> encode(String text) {
    return Arrays.stream(tokenizer.encode(text)).boxed().toList();
  }

  /** The chat rendered with the template, ending with the assistant's header. */
  String chatPrompt(List<Message> messages) {
    PromptTemplate t = template.template();
    return t.generationPrompt(new Example.Chat(messages, ""), tokenizer.bosToken());
  }

  /** Output text: special tokens left out. */
  String decode(List<Integer> ids) {
    return tokenizer.decode(ids.stream().mapToInt(Integer::intValue).toArray(), true);
  }

  /** One token's own text, special tokens written out (for logprobs). */
  String tokenText(int id) {
    return tokenizer.decode(new int[] {id}, false);
  }

  /**
   * Generates, waiting for the requests before it.
   *
   * @param onToken told each new token (see {@link Generator}); null for none
   */
  Generation generate(
      List<Integer> prompt,
      GenerationOptions options,
      int topLogprobs,
      Consumer<TokenLogprob> onToken) {
    generating.lock();
    try {
      return generator.generate(prompt, options, this::decode, topLogprobs, onToken);
    } finally {
      generating.unlock();
    }
  }

  /** The lock generation runs under (tests hold it to keep requests waiting). */
  ReentrantLock generationLock() {
    return generating;
  }

  /** The stop ids as a list, sorted (for /v1/models). */
  List<Integer> sortedStopIds() {
    List<Integer> ids = new ArrayList<>(stopTokenIds);
    ids.sort(null);
    return ids;
  }

  @Override
  public void close() {
    model.close();
    tokenizer.close();
    manager.close();
  }
}
