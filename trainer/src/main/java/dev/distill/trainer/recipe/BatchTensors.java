package dev.distill.trainer.recipe;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.distill.trainer.data.Batch;

/**
 * A {@link Batch} as NDArrays: the one place where the plain arrays become tensors.
 *
 * @param ids (B, T) int64 input ids
 * @param attentionMask (B, T) int64 document number of each real token, 0 for padding
 * @param labels (B, T) int64 the id each position predicts
 * @param lossMask (B, T) fp32 1 where the label is trained
 */
record BatchTensors(NDArray ids, NDArray attentionMask, NDArray labels, NDArray lossMask) {

  /** The tensors of a batch, owned by {@code manager} (the step's or pass's sub-manager). */
  static BatchTensors of(Batch b, NDManager manager) {
    Shape bt = new Shape(b.batchSize(), b.seqLen());
    return new BatchTensors(
        manager.create(b.inputIds(), bt),
        manager.create(b.attentionMask(), bt),
        manager.create(b.labels(), bt),
        manager.create(b.lossMask(), bt));
  }
}
