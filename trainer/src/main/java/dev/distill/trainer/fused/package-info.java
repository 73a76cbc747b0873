/**
 * libtorch kernels that DJL's native interface does not expose (tanh GELU with its backward, the
 * fused AdamW), reached through a small TorchScript module shipped as a resource. Used by the model
 * and the optimizer; each call has a composed fallback behind {@code -Ddistill.fused_ops=false}.
 */
package dev.distill.trainer.fused;
