package dev.distill.trainer.recipe;

import ai.djl.ndarray.NDManager;
import dev.distill.trainer.data.PromptTemplate;
import dev.distill.trainer.generate.Generation;
import dev.distill.trainer.generate.GenerationOptions;
import dev.distill.trainer.generate.Generator;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.text.TextAnswer;
import dev.distill.trainer.text.TextModel;
import dev.distill.trainer.text.TextRequest;
import dev.distill.trainer.tokenize.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * One of our models as a {@link TextModel}, generating in process with the KV-cache generator on
 * the recipe's thread: a chat message is rendered with {@code template}, and generation stops at
 * every template's end-of-turn marker, the tokenizer's EOS and the request's stop strings.
 */
final class LocalTextModel implements TextModel {

  private final Gemma2Model model;
  private final Tokenizer tokenizer;
  private final PromptTemplate template;
  private final NDManager manager;
  private final Set<Integer> stopIds;

  LocalTextModel(Models.Loaded loaded, PromptTemplate template, NDManager manager) {
    this.model = loaded.model();
    this.tokenizer = loaded.tokenizer();
    this.template = template;
    this.manager = manager;
    this.stopIds = tokenizer.endOfTurnIds(PromptTemplate.endOfTurnMarkers());
  }

  @Override
  public TextAnswer complete(TextRequest r) {
    int[] ids = tokenizer.encode(r.prompt());
    int context = model.config().maxPositionEmbeddings();
    int max = Math.min(r.maxTokens(), context - 1 - ids.length);
    if (max < 1) {
      return new TextAnswer("", true, 0);
    }
    List<String> stops = new ArrayList<>(template.stopStrings(tokenizer.eosToken()));
    stops.addAll(r.stop());
    List<Integer> prompt = new ArrayList<>(ids.length);
    for (int id : ids) {
      prompt.add(id);
    }
    try (NDManager m = manager.newSubManager()) {
      Generation g =
          new Generator(model, m, context)
              .generate(
                  prompt,
                  new GenerationOptions(max, r.temperature(), r.topP(), r.seed(), stopIds, stops),
                  out -> tokenizer.decode(out.stream().mapToInt(Integer::intValue).toArray()));
      boolean cut =
          g.stopReason() == Generation.StopReason.MAX_TOKENS
              || g.stopReason() == Generation.StopReason.CONTEXT_FULL;
      return new TextAnswer(g.text(), cut, g.tokens().size());
    }
  }

  @Override
  public TextAnswer chat(TextRequest r) {
    return complete(
        new TextRequest(
            template.generationPrompt(r.prompt(), tokenizer.bosToken()),
            r.maxTokens(),
            r.temperature(),
            r.topP(),
            r.seed(),
            r.stop(),
            r.key()));
  }

  @Override
  public int concurrency() {
    return 1;
  }

  @Override
  public boolean threadSafe() {
    return false;
  }
}
