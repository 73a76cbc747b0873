package dev.distill.spec.plan;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Bytes a job needs on its device, by component, from arithmetic alone. The components sum to
 * {@link #totalBytes}; they are, in order:
 *
 * <ul>
 *   <li>{@code teacher_weights}: matrix parameters x {@link Precision#teacherBytes}, norms x 4;
 *   <li>{@code teacher_cache}: a distill job that trains from a teacher cache ({@code
 *       teacher_logits}) loads no teacher; it holds one loss chunk's stored entries as tensors
 *       ({@link #teacherCacheBytes});
 *   <li>{@code student_weights}: parameters x {@link Precision#weightBytes} (x teacher bytes when
 *       not trained). With LoRA ({@link PlanInputs#lora}) the base is frozen like a teacher ({@link
 *       #frozenBaseBytes}: matrices x {@link Precision#teacherBytes}, norms fp32) and the adapters
 *       are weights of their own, fp32 (in bf16-mixed counted as their masters alone);
 *   <li>{@code master_weights}: fp32 copies beside bf16 weights (bf16-mixed), of the trained values
 *       only ({@link PlanInputs#trainableParameters}: the adapters with LoRA); in pure bf16 the
 *       transient fp32 copies of the update in backward ({@link #inBackwardCopyParameters});
 *   <li>{@code gradients}: one per trained value (they persist across steps: zeroed, not freed); in
 *       pure bf16 only the fp32 gradients of those transient copies;
 *   <li>{@code optimizer_state}: AdamW's two fp32 moments per trained value;
 *   <li>{@code activations}: what autograd keeps from the student's forward pass until its backward
 *       ({@link #activationsFullBytes} without checkpointing, {@link #activationsCheckpointedBytes}
 *       with), the teacher's hidden states and the attention masks; for forward-only jobs the KV
 *       cache of generation;
 *   <li>{@code loss_chunk}: the logits of one loss chunk and their gradients;
 *   <li>{@code workspace}: the largest transient: one layer's backward (gradients of its
 *       activations) or one layer of the teacher's forward pass, whichever is larger; and a fixed
 *       {@link #RUNTIME_BYTES} of the engine's own.
 * </ul>
 *
 * <p>The activation counts follow this project's {@code Gemma2Model} as autograd sees it (fp32
 * today): per layer and token, 10 D values (the residual, the four norms' input and scaled input,
 * the two normed inputs of the projections, the attention and MLP outputs), 2 H hd (the grouped
 * queries and the attention output, both copied to contiguous layouts), 2 KV hd (contiguous keys
 * and values), 4 I (GeGLU's gate, up, GELU and product); per layer and head, T^2 values of the
 * softmax output and, with the attention soft-cap, T^2 of its tanh. LoRA adds, per adapted
 * projection and token, the r values of the adapter's middle {@code (alpha / r) A x} (kept for B's
 * gradient) and, with dropout, 2 x in (the kept-mask and the dropped input). A frozen base still
 * keeps its activations: the adapters' gradients flow through every layer; held in 2 bytes, each of
 * its products also keeps the bf16 copy of its weight ({@link #frozenLayerCopyBytes}) and a loss
 * chunk the head's. Checkpointing keeps only each layer's (B, T, D) input and recomputes one layer
 * at a time in the backward pass.
 *
 * @param inputs what it was computed from
 * @param components name to bytes, in the order above
 * @param totalBytes their sum
 * @param activationsFullBytes the activations without checkpointing
 * @param activationsCheckpointedBytes the activations with checkpointing
 * @param deviceMemoryBytes the memory it is compared with, or null
 * @param fits whether {@code totalBytes <= deviceMemoryBytes}; null without a device size
 */
public record MemoryPlan(
    PlanInputs inputs,
    Map<String, Long> components,
    long totalBytes,
    long activationsFullBytes,
    long activationsCheckpointedBytes,
    Long deviceMemoryBytes,
    Boolean fits) {

  public static final String TEACHER_WEIGHTS = "teacher_weights";
  public static final String TEACHER_CACHE = "teacher_cache";
  public static final String STUDENT_WEIGHTS = "student_weights";
  public static final String MASTER_WEIGHTS = "master_weights";
  public static final String GRADIENTS = "gradients";
  public static final String OPTIMIZER_STATE = "optimizer_state";
  public static final String ACTIVATIONS = "activations";
  public static final String LOSS_CHUNK = "loss_chunk";
  public static final String WORKSPACE = "workspace";

  /**
   * What the engine itself takes besides the job's tensors once it runs: BLAS packing buffers per
   * thread, the TorchScript executor of the fused ops, the allocator's slack and, on CPU, the JVM's
   * compiled code. Measured, not derived: the rest of the plan left 134 to 168 MiB of the peak
   * unexplained in {@code PlanMeasuredTest} (CPU, 2 threads). On CUDA the context and cuBLAS
   * workspaces are larger (hundreds of MiB): unmeasured, see docs/gpu.md.
   */
  static final long RUNTIME_BYTES = 128L << 20;

  /** (c, V) arrays a loss chunk holds at its peak, student alone: see {@link #lossChunkBytes}. */
  static final int CHUNK_ARRAYS_STUDENT = 8;

  /** The same with a teacher: its logits, log-probabilities and the divergence's temporaries. */
  static final int CHUNK_ARRAYS_DISTILL = 12;

  /**
   * The same from a teacher cache ({@code TokenLoss.cachedSums}): the student's 8, and the tail's
   * mask of the stored ids (zeros, then scattered), the student's log-probabilities with it added,
   * shifted and exponentiated: 5 more (c, V) arrays held until the chunk ends. Counted, not
   * measured.
   */
  static final int CHUNK_ARRAYS_CACHED = 13;

  /**
   * Bytes per stored entry of a loss chunk from a teacher cache: the (c, k) ids as int64 (8), and
   * about fourteen (c, k + 1) fp32 arrays (the stored log-probabilities, the used and fill masks,
   * the gathered student log-probabilities and their products, the concatenated buckets of both
   * sides and the divergence's temporaries). Counted, not measured.
   */
  static final int CACHE_ENTRY_BYTES = 8 + 14 * 4;

  public MemoryPlan {
    components = Collections.unmodifiableMap(new LinkedHashMap<>(components));
  }

  /** The plan of some inputs, not compared with a device. */
  public static MemoryPlan of(PlanInputs in) {
    Precision p = in.precision();
    Map<String, Long> c = new LinkedHashMap<>();
    long studentParams = in.student() == null ? 0 : in.student().parameterCount();
    long teacherParams = in.teacher() == null ? 0 : in.teacher().parameterCount();
    // held as loadFrozen holds it: matrices in 2 bytes (fp32 in fp32), norms in fp32
    c.put(TEACHER_WEIGHTS, in.teacher() == null ? 0 : frozenBaseBytes(in.teacher(), p));
    c.put(TEACHER_CACHE, teacherCacheBytes(in));
    if (in.training() && p.updatesInBackward()) { // pure bf16 (never LoRA: the spec refuses it)
      long copies = inBackwardCopyParameters(in.student());
      c.put(STUDENT_WEIGHTS, studentParams * p.weightBytes());
      c.put(MASTER_WEIGHTS, copies * 4); // fp32, transient
      c.put(GRADIENTS, copies * 4); // fp32, transient
      c.put(OPTIMIZER_STATE, studentParams * p.optimizerBytes());
    } else if (in.training() && in.lora() != null) {
      long trained = in.trainableParameters();
      // the frozen base (its weights alone) and the adapters, which compute in fp32: in bf16-mixed
      // they are their own fp32 masters, with no bf16 copy
      c.put(
          STUDENT_WEIGHTS,
          frozenBaseBytes(in.student(), p) + (p.masterBytes() > 0 ? 0 : trained * p.weightBytes()));
      c.put(MASTER_WEIGHTS, trained * p.masterBytes());
      c.put(GRADIENTS, trained * p.gradientBytes());
      c.put(OPTIMIZER_STATE, trained * p.optimizerBytes());
    } else if (in.training()) {
      long trained = in.trainableParameters();
      c.put(STUDENT_WEIGHTS, trained * p.weightBytes());
      c.put(MASTER_WEIGHTS, trained * p.masterBytes());
      c.put(GRADIENTS, trained * p.gradientBytes());
      c.put(OPTIMIZER_STATE, trained * p.optimizerBytes());
    } else { // an evaluated model, held frozen as a teacher is
      c.put(STUDENT_WEIGHTS, in.student() == null ? 0 : frozenBaseBytes(in.student(), p));
      c.put(MASTER_WEIGHTS, 0L);
      c.put(GRADIENTS, 0L);
      c.put(OPTIMIZER_STATE, 0L);
    }
    long full = in.training() ? trainingActivations(in, false) : 0;
    long checkpointed = in.training() ? trainingActivations(in, true) : 0;
    long activations =
        in.training() ? (in.checkpointing() ? checkpointed : full) : inferenceActivations(in);
    c.put(ACTIVATIONS, activations);
    c.put(LOSS_CHUNK, lossChunkBytes(in));
    c.put(WORKSPACE, workspaceBytes(in));
    long total = c.values().stream().mapToLong(Long::longValue).sum();
    return new MemoryPlan(in, c, total, full, checkpointed, null, null);
  }

  /** This plan compared with a device of {@code bytes} memory. */
  public MemoryPlan onDevice(long bytes) {
    return new MemoryPlan(
        inputs,
        components,
        totalBytes,
        activationsFullBytes,
        activationsCheckpointedBytes,
        bytes,
        totalBytes <= bytes);
  }

  /** The total in MiB, rounded up: what {@code requirements.min_memory_mb} holds. */
  public long totalMib() {
    return (totalBytes + (1L << 20) - 1) >> 20;
  }

  /**
   * What a LoRA student's frozen base holds ({@code Gemma2Model.loadFrozenBase}): its matrices at
   * {@link Precision#teacherBytes} (fp32 in fp32, bf16 bits in the 2-byte precisions, whatever the
   * checkpoint's dtype: an F32 one is rounded once) and its norms in fp32.
   */
  static long frozenBaseBytes(ModelShape s, Precision p) {
    long norms = s.normParameterCount();
    return (s.parameterCount() - norms) * p.teacherBytes() + norms * 4;
  }

  /**
   * Parameters that exist as fp32 copies at once when pure bf16 updates in backward: the embedding
   * (also the head) and the final norm for the whole step (they are read at both ends of it), and
   * one decoder layer while it is recomputed, updated and written back as bf16.
   */
  static long inBackwardCopyParameters(ModelShape s) {
    return (long) s.vocabSize() * s.hiddenSize() + s.hiddenSize() + s.layerParameterCount();
  }

  /**
   * Values autograd keeps for the student's backward pass, in bytes, plus the teacher's hidden
   * states the loss reads and the attention masks.
   */
  static long trainingActivations(PlanInputs in, boolean checkpointing) {
    ModelShape s = in.student();
    Precision p = in.precision();
    long bt = (long) in.microBatch() * in.seqLen();
    long layer = layerSavedBytes(s, in, p);
    long residual = bt * s.hiddenSize() * p.activationBytes(); // (B, T, D)
    // the final norm's input and scaled input, the hidden states, their gradient leaf and the
    // product the trunk's backward starts from: 5 (B, T, D)
    long head = 5 * residual;
    long trunk = checkpointing ? s.layers() * residual + layer : s.layers() * layer;
    // a 2-byte LoRA base: each product of a layer whose graph is alive keeps the bf16 copy of its
    // weight for the input's gradient (torch's MmBackward saves mat2); one layer when checkpointed
    long copies = (checkpointing ? 1 : s.layers()) * frozenLayerCopyBytes(in);
    return trunk + copies + head + teacherHidden(in) + masks(in);
  }

  /**
   * The bf16 copies of one decoder layer's matrices that autograd keeps from a LoRA student's
   * 2-byte frozen base: the bits are reinterpreted into a bf16 tensor inside each product ({@code
   * view_copy}: TorchScript cannot view them in place), and the matmul keeps that tensor until its
   * backward. 0 without LoRA or in fp32 (an fp32 weight is kept as itself).
   */
  static long frozenLayerCopyBytes(PlanInputs in) {
    if (in.lora() == null || !in.precision().lowCompute()) {
      return 0;
    }
    ModelShape s = in.student();
    return (s.layerParameterCount() - 4L * s.hiddenSize()) * in.precision().teacherBytes();
  }

  /** What one decoder layer of the student keeps for its backward pass. */
  static long layerSavedBytes(ModelShape s, PlanInputs in, Precision p) {
    long bt = (long) in.microBatch() * in.seqLen();
    long perToken =
        10L * s.hiddenSize()
            + 2L * s.heads() * s.headDim()
            + 2L * s.kvHeads() * s.headDim()
            + 4L * s.intermediateSize();
    if (in.lora() != null) {
      for (String module : in.lora().targetModules()) {
        // (B, T, r) middle; with dropout the (B, T, in) kept-mask and dropped input
        perToken += in.lora().rank() + (in.lora().dropout() > 0 ? 2 * s.projectionIn(module) : 0);
      }
    }
    long scores = (long) in.microBatch() * s.heads() * in.seqLen() * in.seqLen(); // (B, H, T, T)
    return bt * perToken * p.activationBytes()
        + scores * (p.softmaxBytes() + (s.attnSoftcap() ? p.activationBytes() : 0));
  }

  private static long teacherHidden(PlanInputs in) {
    return in.teacher() == null
        ? 0
        : (long) in.microBatch() * in.seqLen() * in.teacher().hiddenSize() * 4;
  }

  /**
   * The (B, 1, 1, T, T) fp32 masks of a padded batch: the global and the sliding one, and the three
   * made on the way from the document numbers (same document, real key, their product).
   */
  private static long masks(PlanInputs in) {
    return 5L * in.microBatch() * in.seqLen() * in.seqLen() * 4;
  }

  /** Forward only: the KV cache of every layer at T tokens (generation) and the masks. */
  static long inferenceActivations(PlanInputs in) {
    long bytes = masks(in) + teacherHidden(in);
    for (ModelShape m : new ModelShape[] {in.student(), in.teacher()}) {
      if (m != null) {
        bytes +=
            2L
                * m.layers()
                * m.kvHeads()
                * m.headDim()
                * in.microBatch()
                * in.seqLen()
                * in.precision().activationBytes();
      }
    }
    return bytes;
  }

  /**
   * One chunk's (c, V) fp32 arrays at their peak: c = min(loss chunk, B x T); {@value
   * #CHUNK_ARRAYS_STUDENT} of them for the student alone (logits, soft-capped, log-softmax and
   * their gradients), {@value #CHUNK_ARRAYS_DISTILL} with a teacher; for a 2-byte LoRA base also
   * the bf16 copy of the (V, D) head that the chunk's graph keeps.
   */
  static long lossChunkBytes(PlanInputs in) {
    long c = Math.min(in.lossChunk(), (long) in.microBatch() * in.seqLen());
    long v =
        Math.max(
            in.student() == null ? 0 : in.student().vocabSize(),
            in.teacher() == null ? 0 : in.teacher().vocabSize());
    int arrays =
        in.teacher() != null
            ? CHUNK_ARRAYS_DISTILL
            : in.cacheTopK() != null ? CHUNK_ARRAYS_CACHED : CHUNK_ARRAYS_STUDENT;
    // a 2-byte LoRA base's tied head: its bf16 copy is kept while the chunk's graph lives
    long headCopy =
        in.training() && in.lora() != null && in.precision().lowCompute()
            ? (long) in.student().vocabSize() * in.student().hiddenSize() * 2
            : 0;
    return c * v * 4 * arrays + headCopy;
  }

  /**
   * A cached distill job's stored entries of one loss chunk, as tensors: c positions x (k + 1)
   * buckets x {@value #CACHE_ENTRY_BYTES} bytes; 0 for every other job. The shards are
   * memory-mapped files (the page cache, not the device) and the micro-batch's entries are read
   * into the JVM heap (host memory, 8 k + 8 bytes per position), neither of which is counted.
   */
  static long teacherCacheBytes(PlanInputs in) {
    if (in.cacheTopK() == null) {
      return 0;
    }
    long c = Math.min(in.lossChunk(), (long) in.microBatch() * in.seqLen());
    return c * (in.cacheTopK() + 1L) * CACHE_ENTRY_BYTES;
  }

  /**
   * The largest transient: a student layer's backward (2 (B, H, T, T) gradients through the softmax
   * and the soft-cap, or 3 (B, T, I) through GeGLU, whichever is larger, plus 4 (B, T, D)), or a
   * layer of a forward without autograd (3 (B, H, T, T) or 3 (B, T, I) alive at once).
   */
  static long workspaceBytes(PlanInputs in) {
    return RUNTIME_BYTES + largestTransient(in);
  }

  private static long largestTransient(PlanInputs in) {
    long best = 0;
    if (in.training()) {
      best = layerTransient(in.student(), in, 2, in.precision().activationBytes());
    }
    for (ModelShape m : new ModelShape[] {in.training() ? null : in.student(), in.teacher()}) {
      if (m != null) {
        best = Math.max(best, layerTransient(m, in, 3, in.precision().activationBytes()));
      }
    }
    return best;
  }

  private static long layerTransient(ModelShape m, PlanInputs in, int scoreArrays, int bytes) {
    long bt = (long) in.microBatch() * in.seqLen();
    long scores = scoreArrays * (long) in.microBatch() * m.heads() * in.seqLen() * in.seqLen();
    long mlp = 3 * bt * m.intermediateSize();
    return (Math.max(scores, mlp) + 4 * bt * m.hiddenSize()) * bytes;
  }
}
