package dev.distill.trainer.data;

import java.util.List;
import java.util.Map;

/**
 * A dataset opened for training: rows of both splits, what happened to them, and held-out prompts.
 *
 * @param train training rows
 * @param validation validation rows
 * @param trainStats truncation and counts of the training split
 * @param validationStats truncation and counts of the validation split
 * @param template the prompt template used
 * @param heldOut validation prompts with reference answers for exact-match evaluation (at most
 *     {@link Datasets#MAX_HELD_OUT}; empty for plain text)
 * @param validationGroups validation examples by kind, unpacked, for losses per kind: for the
 *     procedural data {@link #UNIQUE} (tasks with one right answer) and {@link #SEVERAL} (tasks
 *     with several valid answers, where a model should learn the distribution); empty for files;
 *     for a mix, each source's validation rows under its name
 * @param mix for a dataset mix, its sources (whose training rows, in order, make {@link #train()});
 *     null for a single source
 */
public record DatasetSplits(
    List<Sequence> train,
    List<Sequence> validation,
    DataStats trainStats,
    DataStats validationStats,
    PromptTemplate template,
    List<EvalPrompt> heldOut,
    Map<String, List<Sequence>> validationGroups,
    Mix mix) {

  /**
   * The sources of a mix.
   *
   * @param names each source's metric name
   * @param weights each source's weight
   * @param train each source's training rows
   */
  public record Mix(List<String> names, double[] weights, List<List<Sequence>> train) {}

  /** A single source. */
  public DatasetSplits(
      List<Sequence> train,
      List<Sequence> validation,
      DataStats trainStats,
      DataStats validationStats,
      PromptTemplate template,
      List<EvalPrompt> heldOut,
      Map<String, List<Sequence>> validationGroups) {
    this(train, validation, trainStats, validationStats, template, heldOut, validationGroups, null);
  }

  /**
   * The weighted, resumable training loader over the sources of a {@link #mix()}.
   *
   * @param seqLen fixed T, or 0 to pad each batch to its longest row
   */
  public MixBatchIterator mixBatches(int batchSize, long seed, int padId, int seqLen) {
    if (mix == null) {
      throw new IllegalStateException("not a dataset mix");
    }
    return new MixBatchIterator(mix.train(), mix.weights(), batchSize, seed, padId, seqLen);
  }

  /** Group of the validation examples whose answer is unique. */
  public static final String UNIQUE = "unique";

  /** Group of the validation examples with several valid answers. */
  public static final String SEVERAL = "several";

  /**
   * The shuffling, resumable training loader over {@link #train()}.
   *
   * @param seqLen fixed T, or 0 to pad each batch to its longest row
   */
  public BatchIterator trainBatches(int batchSize, long seed, int padId, int seqLen) {
    return new BatchIterator(train, batchSize, seed, padId, seqLen, true);
  }

  /** The validation rows in order, the last batch possibly smaller. */
  public List<Batch> validationBatches(int batchSize, int padId, int seqLen) {
    return BatchIterator.sequential(validation, batchSize, padId, seqLen);
  }
}
