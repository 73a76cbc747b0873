package dev.distill.app.serve;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.distill.trainer.generate.GenerationConfig;
import dev.distill.trainer.model.gemma2.Gemma2Config;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.model.gemma2.Gemma2WeightNames;
import dev.distill.trainer.tokenize.ByteTokenizer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A random gemma2-tiny checkpoint directory as training writes one: weights, the byte tokenizer's
 * files and a generation_config.json that stops at EOS and {@code <end_of_turn>}. Weights are
 * scaled up so that continuations vary (an untrained model's logits are nearly flat).
 */
final class TinyCheckpoint {

  static final int CONTEXT = 96;

  private TinyCheckpoint() {}

  static Path write(Path dir) {
    ByteTokenizer tok = ByteTokenizer.instance();
    Gemma2Config c =
        Gemma2Config.preset("gemma2-tiny")
            .withOverrides(
                Map.of(
                    "vocab_size", tok.vocabSize(),
                    "bos_token_id", tok.bosId(),
                    "eos_token_id", tok.eosId(),
                    "pad_token_id", tok.padId(),
                    "max_position_embeddings", CONTEXT));
    try (NDManager m = NDManager.newBaseManager();
        Gemma2Model model = Gemma2Model.init(c, m, 11)) {
      NDArray factor = m.full(new Shape(), 3f);
      for (var e : model.parameters().entrySet()) {
        if (!Gemma2WeightNames.isNorm(e.getKey())) {
          e.getValue().muli(factor);
        }
      }
      model.save(dir);
    }
    tok.writeTo(dir);
    int endOfTurn = tok.specialId("<end_of_turn>").orElseThrow();
    new GenerationConfig(tok.bosId(), List.of(tok.eosId(), endOfTurn), tok.padId()).writeTo(dir);
    return dir;
  }
}
