package dev.distill.trainer.model;

import ai.djl.Device;
import dev.distill.spec.Catalog;

/**
 * How a model computes: {@code hyperparameters.precision} ({@link Catalog#PRECISIONS}). DJL never
 * sees a bf16 tensor (its JNI aborts on one): bf16 work runs inside the TorchScript methods of
 * {@link dev.distill.trainer.fused.FusedOps}, with fp32 at the DJL boundary.
 */
public enum Precision {
  /** Everything in fp32, as before precision existed. */
  FP32("fp32"),
  /**
   * Matmuls and attention in bf16; parameters (master weights), gradients, optimizer state, norms,
   * softmax and the loss in fp32.
   */
  BF16_MIXED("bf16-mixed"),
  /** bf16 weights with fp32 optimizer state: not trainable through DJL 0.36 (docs/gpu.md). */
  BF16("bf16");

  private final String json;

  Precision(String json) {
    this.json = json;
  }

  /** The spec's name. */
  public String json() {
    return json;
  }

  /** Whether matmuls run in a 2-byte dtype. */
  public boolean lowCompute() {
    return this != FP32;
  }

  /**
   * The precision of a run: the spec's when it names one, else the device's default (bf16-mixed on
   * a GPU, fp32 on the CPU, whose bf16 matmuls are slower than fp32 ones without AMX).
   *
   * @param requested {@code hyperparameters.precision}, or null
   */
  public static Precision resolve(String requested, Device device) {
    if (requested == null) {
      return device.isGpu() ? BF16_MIXED : FP32;
    }
    for (Precision p : values()) {
      if (p.json.equals(requested)) {
        return p;
      }
    }
    throw new IllegalArgumentException(
        "precision must be one of " + Catalog.PRECISIONS + ", was '" + requested + "'");
  }
}
