/**
 * The model interfaces the trainer works against ({@link dev.distill.trainer.model.CausalLm},
 * {@link dev.distill.trainer.model.IncrementalLm} with its {@link
 * dev.distill.trainer.model.KvCache}, and {@link dev.distill.trainer.model.NoGrad} for inference);
 * one sub-package per architecture. No training, loss or data code lives here.
 */
package dev.distill.trainer.model;
