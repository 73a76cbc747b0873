/**
 * The model interfaces the trainer works against ({@link dev.distill.trainer.model.CausalLm},
 * {@link dev.distill.trainer.model.IncrementalLm} with its {@link
 * dev.distill.trainer.model.KvCache}, and {@link dev.distill.trainer.model.NoGrad}, the one
 * grad-mode guard: inference, a teacher's forward, in-place parameter updates); one sub-package per
 * architecture. No training, loss or data code lives here.
 */
package dev.distill.trainer.model;
