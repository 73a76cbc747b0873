package dev.distill.spec.plan;

import java.util.Arrays;
import java.util.List;

/**
 * How a job holds and computes its tensors, as {@code hyperparameters.precision} names it: the one
 * list of precisions, used by the spec's check ({@link dev.distill.spec.Catalog#PRECISIONS}), the
 * memory plan (bytes per value) and the trainer (how its matmuls run and its weights are held; see
 * docs/gpu.md).
 */
public enum Precision {
  /** fp32 weights, gradients, activations; a teacher is expanded to fp32 in memory. */
  FP32("fp32", 4, 4, 0, 4, 4),
  /**
   * bf16 compute copies of the weights, fp32 master weights, fp32 gradients (on the masters) and
   * optimiser state; bf16 activations with the softmax and the loss in fp32; the teacher in bf16.
   */
  BF16_MIXED("bf16-mixed", 2, 2, 4, 4, 2),
  /**
   * Pure bf16 weights, fp32 optimiser state (for tight memory); teacher in bf16. The trainer
   * updates each layer inside the backward pass from a transient fp32 copy (optimizer in backward),
   * so no gradient persists across the step: the plan counts one layer's fp32 copy and gradients as
   * a transient instead ({@link MemoryPlan}).
   */
  BF16("bf16", 2, 2, 0, 0, 2);

  private final String json;
  private final int teacherBytes;
  private final int weightBytes;
  private final int masterBytes;
  private final int gradientBytes;
  private final int activationBytes;

  Precision(
      String json,
      int teacherBytes,
      int weightBytes,
      int masterBytes,
      int gradientBytes,
      int activationBytes) {
    this.json = json;
    this.teacherBytes = teacherBytes;
    this.weightBytes = weightBytes;
    this.masterBytes = masterBytes;
    this.gradientBytes = gradientBytes;
    this.activationBytes = activationBytes;
  }

  /** The spec's names, in order. */
  public static final List<String> NAMES = Arrays.stream(values()).map(Precision::json).toList();

  /** The name in a spec: {@code fp32}, {@code bf16-mixed}, {@code bf16}. */
  public String json() {
    return json;
  }

  /**
   * @param name fp32, bf16-mixed or bf16 (case-insensitive)
   * @throws IllegalArgumentException naming the value and the known ones
   */
  public static Precision of(String name) {
    for (Precision p : values()) {
      if (p.json.equalsIgnoreCase(name)) {
        return p;
      }
    }
    throw new IllegalArgumentException(
        "precision must be one of " + String.join(", ", NAMES) + ", was '" + name + "'");
  }

  /**
   * The precision of a run: the spec's when it names one, else the device's default.
   *
   * @param requested {@code hyperparameters.precision}, or null
   * @param device {@code cpu} or {@code cuda} (or null when not known)
   * @throws IllegalArgumentException naming the value and the known ones
   */
  public static Precision resolve(String requested, String device) {
    return requested == null ? defaultFor(device) : of(requested);
  }

  /** Whether the matmuls run in a 2-byte dtype (bf16 inside the trainer's TorchScript ops). */
  public boolean lowCompute() {
    return this != FP32;
  }

  /**
   * Whether the trainable weights are held in bf16 and updated inside the backward pass, layer by
   * layer (optimizer in backward): no global-norm clipping and no gradient accumulation.
   */
  public boolean updatesInBackward() {
    return this == BF16;
  }

  /**
   * The default of a device kind, as issue 11 sets it: bf16-mixed on CUDA, fp32 on CPU (and when
   * the device is not known).
   */
  public static Precision defaultFor(String device) {
    return "cuda".equals(device) ? BF16_MIXED : FP32;
  }

  /** Bytes per parameter of a frozen teacher. */
  public int teacherBytes() {
    return teacherBytes;
  }

  /** Bytes per parameter of the weights the student computes with. */
  public int weightBytes() {
    return weightBytes;
  }

  /** Bytes per parameter of fp32 master weights kept beside bf16 ones; 0 when there are none. */
  public int masterBytes() {
    return masterBytes;
  }

  /** Bytes per parameter of a gradient that persists across the step (0 in pure bf16). */
  public int gradientBytes() {
    return gradientBytes;
  }

  /** Bytes per activation value (the attention probabilities of bf16-mixed are fp32). */
  public int activationBytes() {
    return activationBytes;
  }

  /** Bytes per value of the attention probabilities: fp32 except in pure bf16. */
  public int softmaxBytes() {
    return this == BF16 ? 2 : 4;
  }

  /** AdamW's two fp32 moments per parameter, in every precision. */
  public int optimizerBytes() {
    return 8;
  }
}
