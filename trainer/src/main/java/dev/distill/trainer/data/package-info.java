/**
 * Instruction data: file formats (Alpaca, chat, text; streamed), prompt templates, tokenized
 * sequences with loss masks, truncation, packing, the deterministic train/validation split, and
 * batches as plain Java arrays with a resumable shuffling loader. No tensors here: the recipe turns
 * a {@link dev.distill.trainer.data.Batch} into NDArrays.
 */
package dev.distill.trainer.data;
