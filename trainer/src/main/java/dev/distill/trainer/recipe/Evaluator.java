package dev.distill.trainer.recipe;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.distill.trainer.data.Batch;
import dev.distill.trainer.data.EvalPrompt;
import dev.distill.trainer.data.PromptTemplate;
import dev.distill.trainer.generate.Generation;
import dev.distill.trainer.generate.GenerationOptions;
import dev.distill.trainer.generate.Generator;
import dev.distill.trainer.loss.KdKind;
import dev.distill.trainer.loss.KdLoss;
import dev.distill.trainer.loss.KdLossConfig;
import dev.distill.trainer.loss.LossParts;
import dev.distill.trainer.model.NoGrad;
import dev.distill.trainer.model.gemma2.Gemma2Model;
import dev.distill.trainer.tokenize.Tokenizer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Scores a model on held-out data: cross-entropy (hence perplexity), KL(teacher || student), top-1
 * agreement with the teacher, and exact match of greedy generations where the answer is unique.
 */
final class Evaluator {

  static final String CE = "ce";
  static final String KL = "kl";
  static final String AGREEMENT = "top1_agreement";

  private Evaluator() {}

  /**
   * Token-weighted means over the batches.
   *
   * @param teacher null to skip KL and agreement
   * @return {@code ce}, and with a teacher {@code kl} and {@code top1_agreement}
   */
  static Map<String, Double> losses(
      Gemma2Model student,
      Gemma2Model teacher,
      List<Batch> batches,
      NDManager manager,
      int chunk,
      Integer sharedVocab) {
    KdLoss ce = new KdLoss(KdLossConfig.crossEntropyOnly(chunk), sharedVocab);
    KdLoss kl = new KdLoss(new KdLossConfig(KdKind.FORWARD_KL, 1.0, 1.0, 0.5, chunk), sharedVocab);
    double ceSum = 0;
    double klSum = 0;
    long agree = 0;
    long tokens = 0;
    try (NoGrad ignored = NoGrad.enter()) {
      for (Batch b : batches) {
        long n = b.lossTokens();
        if (n == 0) {
          continue;
        }
        try (NDManager m = manager.newSubManager()) {
          BatchTensors x = BatchTensors.of(b, m); // (B, T) each
          NDArray sh = student.hidden(x.ids(), x.attentionMask()); // (B, T, D_s)
          LossParts c =
              ce.evaluate(KdLoss.Hidden.student(student, sh), x.labels(), x.lossMask(), n);
          ceSum += c.ce().getFloat() * n;
          if (teacher != null) {
            NDArray th = teacher.hidden(x.ids(), x.attentionMask()); // (B, T, D_t)
            LossParts k =
                kl.evaluate(
                    new KdLoss.Hidden(student, sh, teacher, th), x.labels(), x.lossMask(), n);
            klSum += k.kd().getFloat() * n;
            int v = sharedVocab != null ? sharedVocab : student.vocabSize();
            NDArray sTop = student.logits(sh).get(":, :, :" + v).argMax(2); // (B, T)
            NDArray tTop = teacher.logits(th).get(":, :, :" + v).argMax(2); // (B, T)
            agree +=
                sTop.eq(tTop).toType(DataType.FLOAT32, false).mul(x.lossMask()).sum().getFloat();
          }
        }
        tokens += n;
      }
    }
    Map<String, Double> out = new LinkedHashMap<>();
    out.put(CE, tokens == 0 ? Double.NaN : ceSum / tokens);
    if (teacher != null) {
      out.put(KL, tokens == 0 ? Double.NaN : klSum / tokens);
      out.put(AGREEMENT, tokens == 0 ? Double.NaN : (double) agree / tokens);
    }
    return out;
  }

  /**
   * Share of prompts with a unique answer whose greedy generation matches it.
   *
   * @param limit at most this many prompts
   */
  static double exactMatch(
      Gemma2Model model,
      Tokenizer tokenizer,
      PromptTemplate template,
      List<EvalPrompt> prompts,
      int limit,
      int maxNewTokens,
      NDManager manager) {
    Set<Integer> stopIds = tokenizer.endOfTurnIds(PromptTemplate.endOfTurnMarkers());
    GenerationOptions options =
        GenerationOptions.greedy(maxNewTokens, stopIds)
            .withStopStrings(template.stopStrings(tokenizer.eosToken()));
    int scored = 0;
    int hits = 0;
    for (EvalPrompt p : prompts) {
      if (!p.unique()) {
        continue;
      }
      if (scored >= limit) {
        break;
      }
      int[] ids = tokenizer.encode(p.prompt());
      List<Integer> prompt = new java.util.ArrayList<>(ids.length);
      for (int id : ids) {
        prompt.add(id);
      }
      try (NDManager m = manager.newSubManager()) {
        Generation g =
            new Generator(model, m, model.config().maxPositionEmbeddings())
                .generate(
                    prompt,
                    options,
                    out -> tokenizer.decode(out.stream().mapToInt(Integer::intValue).toArray()));
        if (p.matches(g.text())) {
          hits++;
        }
      }
      scored++;
    }
    return scored == 0 ? Double.NaN : (double) hits / scored;
  }
}
