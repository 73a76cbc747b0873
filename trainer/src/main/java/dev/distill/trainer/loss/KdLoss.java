package dev.distill.trainer.loss;

import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import dev.distill.trainer.model.CausalLm;
import dev.distill.trainer.model.NoGrad;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * loss = kdRatio * T^2 * D(P_T || Q_T) + (1 - kdRatio) * CE(Q, labels), each term summed over the
 * unmasked positions and divided by a normaliser N that the caller gives: the unmasked token count
 * of the WHOLE accumulated batch. Summing the losses (and gradients) of k micro-batches, each
 * divided by the same N, then equals the loss of one batch holding them all. N = 0 (everything
 * masked) gives 0 and zero gradients.
 *
 * <p>P_T = softmax(teacher / T), Q_T = softmax(student / T); the cross-entropy uses the student at
 * T = 1 over its whole vocabulary, the divergence the ids [0, shared) of {@link VocabAlignment}.
 *
 * <p>Three entry points:
 *
 * <ul>
 *   <li>{@link #backward}: training. Logits are made only for the positions in the loss (unmasked),
 *       at most {@code chunkSize} of them at a time across the whole micro-batch, and each chunk's
 *       loss is back-propagated at once, so that peak memory is O(chunk x V), not O(B x T x V), and
 *       prompt and padding positions cost no head. How: the student's hidden states are detached
 *       into a leaf that requires a gradient; for each chunk the head runs on the chunk's rows of
 *       that leaf, the chunk loss is back-propagated (DJL's PyTorch collector accepts any number of
 *       {@code backward} calls; each frees its chunk's graph and accumulates into the leaf and the
 *       head's parameters); finally sum(hidden * grad_leaf) is back-propagated through the trunk,
 *       which gives the trunk exactly the gradient of the whole loss.
 *   <li>{@link #evaluate}: the same chunks without gradients, for validation.
 *   <li>{@link #reference}: plain and unchunked on full logits, differentiable; for tests and small
 *       vocabularies.
 * </ul>
 *
 * <p>Labels are aligned with positions: {@code labels[b, t]} is the id that position t predicts
 * (the caller shifts), and {@code lossMask[b, t]} says whether it counts. Masked labels may hold
 * any value (e.g. -100).
 *
 * <p>Memory, measured once (B = 1, T = 1024, V = 32768, chunk 64, forward KL + CE on a toy model):
 * peak resident memory grew by 0.22 GB through {@link #backward} against 1.7 GB through {@link
 * #reference}. Each chunk runs inside an {@link NDScope} that closes every array made during it, so
 * {@link CausalLm#logits} must not create arrays that outlive the call (make constants in the
 * model's constructor). The caller's per-step scope owns the returned values. Besides one chunk's
 * logits and their graph, the only extra memory is the (B, T, D) gradient of the detached hidden
 * states (the detached leaf shares their storage).
 *
 * <p>Teacher logits are computed here with PyTorch grad mode off (so the teacher never builds a
 * graph nor receives a gradient, even if its parameters require one); the teacher's hidden states
 * should be computed by the caller with grad mode off too.
 */
public final class KdLoss {

  private final KdLossConfig config;
  private final Integer sharedVocab;

  /**
   * @param config the loss settings
   * @param sharedVocab null when teacher and student must have the same output size; else the real
   *     vocabulary both share (the tokenizer's size) when one output is a padded superset of the
   *     other
   */
  public KdLoss(KdLossConfig config, Integer sharedVocab) {
    if (config == null) {
      throw new IllegalArgumentException("config must not be null");
    }
    if (sharedVocab != null && sharedVocab < 1) {
      throw new IllegalArgumentException("sharedVocab must be at least 1, was " + sharedVocab);
    }
    this.config = config;
    this.sharedVocab = sharedVocab;
  }

  /** Same output size required for teacher and student. */
  public KdLoss(KdLossConfig config) {
    this(config, null);
  }

  /** The shared vocabulary size compared, or null when both sides must match. */
  public Integer sharedVocab() {
    return sharedVocab;
  }

  public KdLossConfig config() {
    return config;
  }

  /**
   * The normaliser of one micro-batch; sum it over the micro-batches of a step and pass the sum to
   * each call.
   *
   * @param lossMask (B, T) 0/1 of any numeric type
   */
  public static long countTokens(NDArray lossMask) {
    try (NDArray m = lossMask.toType(DataType.FLOAT64, true);
        NDArray s = m.sum()) {
      return Math.round(s.getDouble());
    }
  }

  /**
   * The student and the teacher's side of the loss: what the chunked loss computes logits from. The
   * teacher is either a model with its hidden states (online) or a top-k cache's entries for the
   * unmasked positions ({@code cached}), never both.
   *
   * @param student the student; its {@link CausalLm#logits} runs once per chunk
   * @param studentHidden (B, T, D_s) output of {@code student.hidden}, part of the student's graph
   *     when gradients are wanted
   * @param teacher the teacher, or null when kdRatio is 0 or the teacher is cached
   * @param teacherHidden (B, T, D_t) output of {@code teacher.hidden} made without gradients, or
   *     null
   * @param cached the teacher's stored top-k entries of the batch's unmasked positions in row-major
   *     order (one per loss token), or null
   */
  public record Hidden(
      CausalLm student,
      NDArray studentHidden,
      CausalLm teacher,
      NDArray teacherHidden,
      TeacherTargets cached) {

    public Hidden {
      if (cached != null && (teacher != null || teacherHidden != null)) {
        throw new IllegalArgumentException("a teacher model and a teacher cache, give one");
      }
    }

    /** An online teacher (or none). */
    public Hidden(
        CausalLm student, NDArray studentHidden, CausalLm teacher, NDArray teacherHidden) {
      this(student, studentHidden, teacher, teacherHidden, null);
    }

    /** The student alone (cross-entropy only). */
    public static Hidden student(CausalLm student, NDArray studentHidden) {
      return new Hidden(student, studentHidden, null, null, null);
    }

    /** The student against a teacher cache's entries. */
    public static Hidden cached(CausalLm student, NDArray studentHidden, TeacherTargets cached) {
      return new Hidden(student, studentHidden, null, null, cached);
    }
  }

  /**
   * Chunked loss values without gradients (validation).
   *
   * @param hidden the models and their hidden states (B, T, D)
   * @param labels (B, T)
   * @param lossMask (B, T)
   * @param normaliser unmasked tokens to divide by
   */
  public LossParts evaluate(Hidden hidden, NDArray labels, NDArray lossMask, long normaliser) {
    try (NoGrad ignored = NoGrad.enter()) {
      return backward(null, hidden, labels, lossMask, normaliser);
    }
  }

  /**
   * The plain implementation on whole logits: O(B x T x V) memory. Differentiable: back-propagate
   * {@code total()} yourself.
   *
   * @param studentLogits (B, T, V_s)
   * @param teacherLogits (B, T, V_t), or null when kdRatio is 0; never receives a gradient
   * @param labels (B, T) int target ids
   * @param lossMask (B, T) 0/1
   * @param normaliser unmasked tokens of the whole accumulated batch
   */
  public LossParts reference(
      NDArray studentLogits,
      NDArray teacherLogits,
      NDArray labels,
      NDArray lossMask,
      long normaliser) {
    Shape bt = checkBatch(studentLogits, "studentLogits", labels, lossMask);
    VocabAlignment vocab = null;
    if (config.needsTeacher()) {
      checkTeacher(teacherLogits, "teacherLogits", bt);
      vocab =
          alignment(
              Math.toIntExact(teacherLogits.getShape().get(2)),
              Math.toIntExact(studentLogits.getShape().get(2)));
    }
    NDManager manager = studentLogits.getManager();
    Inputs in = inputs(labels, lossMask, normaliser, studentLogits.getShape().get(2));
    Constants k = new Constants(manager, config, normaliser);
    NDArray teacher = vocab == null ? null : teacherLogits.stopGradient();
    TokenLoss.Sums sums =
        TokenLoss.sums(config, vocab, k, studentLogits, teacher, in.labels, in.mask, true);
    NDArray ce = sums.ce().mul(k.ceScale);
    NDArray kd = sums.kd() == null ? manager.zeros(new Shape()) : sums.kd().mul(k.kdScale);
    NDArray total =
        sums.kd() == null
            ? sums.ce().mul(k.ceCoefficient)
            : sums.kd().mul(k.kdCoefficient).add(sums.ce().mul(k.ceCoefficient));
    return new LossParts(total, kd, ce, in.tokens);
  }

  /**
   * The plain implementation against a teacher cache ({@link TokenLoss#cachedSums}): O(B x T x V)
   * memory, differentiable.
   *
   * @param studentLogits (B, T, V_s)
   * @param cached the stored entries of the unmasked positions, row-major
   * @param labels (B, T) int target ids
   * @param lossMask (B, T) 0/1
   * @param normaliser unmasked tokens of the whole accumulated batch
   */
  public LossParts referenceCached(
      NDArray studentLogits,
      TeacherTargets cached,
      NDArray labels,
      NDArray lossMask,
      long normaliser) {
    Shape bt = checkBatch(studentLogits, "studentLogits", labels, lossMask);
    NDManager manager = studentLogits.getManager();
    Inputs in = inputs(labels, lossMask, normaliser, studentLogits.getShape().get(2));
    checkCached(cached, in.tokens, Math.toIntExact(studentLogits.getShape().get(2)));
    Constants k = new Constants(manager, config, normaliser);
    long rows = bt.get(0) * bt.get(1);
    long[] positions =
        chunkPositions(in.mask, Integer.MAX_VALUE).stream().findFirst().orElse(new long[0]);
    NDArray ce;
    NDArray kd;
    if (positions.length == 0) {
      ce = manager.zeros(new Shape());
      kd = manager.zeros(new Shape());
    } else {
      NDArray at = manager.create(positions);
      long v = studentLogits.getShape().get(2);
      NDArray index = at.expandDims(1).broadcast(new Shape(positions.length, v));
      NDArray logits = studentLogits.reshape(rows, v).gather(index, 0).expandDims(0); // (1, n, V)
      NDArray chunkLabels = in.labels.reshape(rows).gather(at, 0).expandDims(0); // (1, n)
      NDArray ones = in.mask.reshape(rows).gather(at, 0).expandDims(0); // (1, n)
      TokenLoss.Sums sums =
          TokenLoss.cachedSums(config, k, logits, cached, chunkLabels, ones, true);
      ce = sums.ce();
      kd = sums.kd();
    }
    NDArray total = kd.mul(k.kdCoefficient).add(ce.mul(k.ceCoefficient));
    return new LossParts(total, kd.mul(k.kdScale), ce.mul(k.ceScale), in.tokens);
  }

  /**
   * Chunked loss with gradients: accumulates d(total)/d(parameter) into the student's parameters
   * (trunk and head). Call inside the step's {@link GradientCollector}; call once per micro-batch.
   *
   * @param collector the open collector of this step; null for values only ({@link #evaluate})
   * @param hidden the models and their hidden states (B, T, D)
   * @param labels (B, T) int target ids
   * @param lossMask (B, T) 0/1
   * @param normaliser unmasked tokens of the whole accumulated batch (at least those of this call)
   * @return detached values; the gradients are already accumulated
   */
  public LossParts backward(
      GradientCollector collector,
      Hidden hidden,
      NDArray labels,
      NDArray lossMask,
      long normaliser) {
    CausalLm student = hidden.student();
    NDArray studentHidden = hidden.studentHidden();
    CausalLm teacher = hidden.teacher();
    NDArray teacherHidden = hidden.teacherHidden();
    TeacherTargets cached = config.needsTeacher() ? hidden.cached() : null;
    Shape bt = checkBatch(studentHidden, "studentHidden", labels, lossMask);
    if (config.needsTeacher() && teacher == null && cached == null) {
      throw new IllegalArgumentException("teacher must not be null when kdRatio > 0");
    }
    VocabAlignment vocab = null;
    if (config.needsTeacher() && cached == null) {
      checkTeacher(teacherHidden, "teacherHidden", bt);
      vocab = alignment(teacher.vocabSize(), student.vocabSize());
    }
    NDManager manager = studentHidden.getManager();
    Inputs in = inputs(labels, lossMask, normaliser, student.vocabSize());
    if (cached != null) {
      checkCached(cached, in.tokens, student.vocabSize());
    }
    Constants k = new Constants(manager, config, normaliser);
    int done = 0; // cached positions consumed by the chunks so far
    // () running sums, updated in place with detached chunk values
    NDArray kdSum = manager.zeros(new Shape());
    NDArray ceSum = manager.zeros(new Shape());
    boolean training = collector != null;
    // (B, T, D_s) the leaf the chunks differentiate against
    NDArray leaf = studentHidden.stopGradient();
    if (training) {
      leaf.setRequiresGradient(true);
    }
    NDArray teacherLeaf = vocab == null ? null : teacherHidden.stopGradient();
    // Only the positions in the loss get logits: the batch is flattened and each chunk gathers at
    // most chunkSize of its unmasked rows (prompt and padding never reach the head). Each chunk
    // selects from the leaf itself, so the chunks share no graph node and each backward frees its
    // own. The gradient reaches the (B, T, D_s) leaf, zero at the rows left out.
    long rowsTotal = bt.get(0) * bt.get(1);
    for (long[] positions : chunkPositions(in.mask, config.chunkSize())) {
      try (NDScope scope = new NDScope()) {
        scope.suppressNotUsedWarning();
        NDArray at = manager.create(positions); // (c) int64 flattened positions
        // (1, c, D_s)
        NDArray rows = gatherRows(leaf, rowsTotal, at).expandDims(0);
        NDArray studentLogits = student.logits(rows); // (1, c, V_s)
        NDArray teacherLogits = null;
        if (vocab != null) {
          try (NoGrad ignored = NoGrad.enter()) {
            // (1, c, V_t)
            teacherLogits = teacher.logits(gatherRows(teacherLeaf, rowsTotal, at).expandDims(0));
          }
        }
        NDArray chunkLabels = in.labels.reshape(rowsTotal).gather(at, 0).expandDims(0); // (1, c)
        NDArray ones = in.mask.reshape(rowsTotal).gather(at, 0).expandDims(0); // (1, c) all 1
        boolean ceNeedsGrad = training && config.kdRatio() < 1.0;
        TokenLoss.Sums sums;
        if (cached != null) {
          // the chunk's positions are the next ones of the row-major order the cache follows
          TeacherTargets part = cached.slice(done, done + positions.length);
          done += positions.length;
          sums =
              TokenLoss.cachedSums(
                  config, k, studentLogits, part, chunkLabels, ones, ceNeedsGrad || !training);
        } else {
          sums =
              TokenLoss.sums(
                  config,
                  vocab,
                  k,
                  studentLogits,
                  teacherLogits,
                  chunkLabels,
                  ones,
                  ceNeedsGrad || !training);
        }
        if (training) {
          NDArray loss =
              sums.kd() == null
                  ? sums.ce().mul(k.ceCoefficient)
                  : sums.kd().mul(k.kdCoefficient).add(sums.ce().mul(k.ceCoefficient));
          // frees this chunk's graph; gradients accumulate in the leaf and the head
          collector.backward(loss);
        }
        ceSum.addi(sums.ce().stopGradient());
        if (sums.kd() != null) {
          kdSum.addi(sums.kd().stopGradient());
        }
      }
    }
    if (training) {
      backThroughTrunk(studentHidden, leaf);
    }
    leaf.close();
    if (teacherLeaf != null) {
      teacherLeaf.close();
    }
    NDArray kd = kdSum.mul(k.kdScale);
    NDArray ce = ceSum.mul(k.ceScale);
    NDArray total = kd.mul(k.kdRatio).add(ce.mul(k.ceRatio));
    kdSum.close();
    ceSum.close();
    in.close();
    k.close();
    return new LossParts(total, kd, ce, in.tokens);
  }

  /**
   * Which flattened positions each chunk takes: the unmasked ones in order, at most {@code chunk}
   * per chunk; no chunk when everything is masked.
   *
   * @param mask (B, T) fp32 0/1
   * @return the (c) positions in [0, B*T) of each chunk
   */
  static List<long[]> chunkPositions(NDArray mask, int chunk) {
    float[] m = mask.toFloatArray(); // (B*T) row-major, as reshape flattens
    long[] unmasked = new long[m.length];
    int n = 0;
    for (int i = 0; i < m.length; i++) {
      if (m[i] != 0f) {
        unmasked[n++] = i;
      }
    }
    List<long[]> out = new ArrayList<>();
    for (int start = 0; start < n; start += chunk) {
      out.add(Arrays.copyOfRange(unmasked, start, Math.min(n, start + chunk)));
    }
    return out;
  }

  /**
   * Rows of a (B, T, D) array at flattened positions, differentiable (gather; its backward scatters
   * into the rows taken).
   *
   * @param x (B, T, D)
   * @param at (c) int64 positions in [0, B*T)
   * @return (c, D)
   */
  private static NDArray gatherRows(NDArray x, long rowsTotal, NDArray at) {
    long d = x.getShape().get(2);
    NDArray index = at.expandDims(1).broadcast(new Shape(at.getShape().get(0), d)); // (c, D)
    return x.reshape(rowsTotal, d).gather(index, 0); // (c, D)
  }

  /**
   * Sends the gradient gathered on the detached leaf through the trunk: back-propagates from the
   * hidden states with that gradient injected (PyTorch's {@code hidden.backward(grad)}), which
   * gives every trunk parameter exactly the gradient of the loss. (It used to back-propagate the
   * surrogate sum(hidden * grad): the same gradient, bit for bit, since its mul backward passes 1 *
   * grad on, at the cost of a product, a sum and their backward.) Hidden states outside any graph
   * (nothing upstream is trained) are accepted: PyTorch then reports that nothing requires a
   * gradient. (DJL's {@code hasGradient()} cannot tell: it is false for every non-leaf tensor.)
   */
  private static void backThroughTrunk(NDArray studentHidden, NDArray leaf) {
    try (NDArray grad = leaf.getGradient();
        NDArray detached = grad.stopGradient()) {
      JniUtils.backward((PtNDArray) studentHidden, (PtNDArray) detached, false, false);
    } catch (EngineException e) {
      if (e.getMessage() == null || !e.getMessage().contains("does not require grad")) {
        throw e;
      }
    }
  }

  /**
   * Labels zeroed where masked (so that gather stays in range), the mask as fp32, the token count.
   */
  private record Inputs(NDArray labels, NDArray mask, long tokens) implements AutoCloseable {
    @Override
    public void close() {
      labels.close();
      mask.close();
    }
  }

  private static Inputs inputs(
      NDArray labels, NDArray lossMask, long normaliser, long studentVocab) {
    if (normaliser < 0) {
      throw new IllegalArgumentException("normaliser must not be negative, was " + normaliser);
    }
    NDArray mask = lossMask.toType(DataType.FLOAT32, true); // a copy: closed after the call
    long tokens = countTokens(mask);
    if (normaliser < tokens) {
      throw new IllegalArgumentException(
          "normaliser "
              + normaliser
              + " is smaller than the "
              + tokens
              + " unmasked tokens of this batch; pass the token count of the whole accumulated batch");
    }
    NDArray ids;
    try (NDArray labels64 = labels.toType(DataType.INT64, true);
        NDArray mask64 = lossMask.toType(DataType.INT64, true)) {
      ids = labels64.mul(mask64);
    }
    if (tokens > 0) {
      long max;
      long min;
      try (NDArray hi = ids.max();
          NDArray lo = ids.min()) {
        max = hi.getLong();
        min = lo.getLong();
      }
      if (min < 0 || max >= studentVocab) {
        throw new IllegalArgumentException(
            "labels must be ids in [0, "
                + studentVocab
                + ") where the loss mask is 1, found "
                + (min < 0 ? min : max));
      }
    }
    return new Inputs(ids, mask, tokens);
  }

  private static Shape checkBatch(NDArray x, String name, NDArray labels, NDArray lossMask) {
    Shape s = x.getShape();
    if (s.dimension() != 3) {
      throw new IllegalArgumentException(name + " must be (B, T, *), was " + s);
    }
    Shape bt = new Shape(s.get(0), s.get(1));
    if (!labels.getShape().equals(bt)) {
      throw new IllegalArgumentException(
          "labels must be " + bt + " like " + name + ", was " + labels.getShape());
    }
    if (!lossMask.getShape().equals(bt)) {
      throw new IllegalArgumentException(
          "lossMask must be " + bt + " like " + name + ", was " + lossMask.getShape());
    }
    return bt;
  }

  private static void checkTeacher(NDArray teacherTensor, String name, Shape bt) {
    if (teacherTensor == null) {
      throw new IllegalArgumentException(name + " must not be null when kdRatio > 0");
    }
    Shape s = teacherTensor.getShape();
    if (s.dimension() != 3 || s.get(0) != bt.get(0) || s.get(1) != bt.get(1)) {
      throw new IllegalArgumentException(
          name + " must be (" + bt.get(0) + ", " + bt.get(1) + ", *), was " + s);
    }
  }

  /**
   * A cache's entries fit this batch: one per loss token, temperature 1, ids the student has.
   *
   * @throws IllegalArgumentException otherwise, saying what differs
   */
  private void checkCached(TeacherTargets cached, long tokens, int studentVocab) {
    if (cached == null) {
      throw new IllegalArgumentException("cached teacher entries must not be null");
    }
    if (config.temperature() != 1.0) {
      throw new IllegalArgumentException(
          "temperature "
              + config.temperature()
              + " with a teacher cache: the cache holds the top-k log-probabilities at"
              + " temperature 1 only, and softmax(z / T) needs every logit; use temperature 1 or"
              + " an online teacher");
    }
    if (cached.positions() != tokens) {
      throw new IllegalArgumentException(
          "the teacher cache holds "
              + cached.positions()
              + " positions for a batch of "
              + tokens
              + " loss tokens; it was written for other data");
    }
    if (cached.vocab() > studentVocab) {
      throw new IllegalArgumentException(
          "the teacher cache's vocabulary ("
              + cached.vocab()
              + " ids) is larger than the student's output ("
              + studentVocab
              + ")");
    }
  }

  private VocabAlignment alignment(int teacherVocab, int studentVocab) {
    return VocabAlignment.of(teacherVocab, studentVocab, sharedVocab);
  }
}
