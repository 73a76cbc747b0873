package dev.distill.spec.plan;

import dev.distill.spec.Catalog;
import dev.distill.spec.JobSpec;
import dev.distill.spec.JobType;
import dev.distill.spec.ModelRef;
import dev.distill.spec.TeacherPassSettings;
import java.util.Optional;

/**
 * The memory plan of a job spec. The service knows a model's shape from the spec alone for {@code
 * builtin:} presets whose vocabulary is known ({@link #SPEC_ONLY}); the worker, which can read
 * {@code config.json} and tokenizers, passes a resolver that knows every reference.
 */
public final class SpecPlans {

  /** The shape of a model reference, when it can be told. */
  @FunctionalInterface
  public interface ShapeResolver {
    /**
     * @param ref the reference
     * @param tokenizerDonor the model whose tokenizer a {@code builtin:} model without one takes (a
     *     student the teacher's), or null
     */
    Optional<ModelShape> shape(ModelRef ref, ModelRef tokenizerDonor);
  }

  /**
   * What the spec alone tells: a {@code builtin:} preset with its {@code config} overrides, whose
   * vocab_size is set in its config or is the byte tokenizer's (its tokenizer is {@code byte}, or
   * absent and the donor's is the byte tokenizer too). {@code file:} and {@code job:} models, and
   * tokenizer files, are unknown here.
   */
  public static final ShapeResolver SPEC_ONLY = SpecPlans::builtinShape;

  private SpecPlans() {}

  private static Optional<ModelShape> builtinShape(ModelRef ref, ModelRef donor) {
    if (ref == null || !ref.isBuiltin() || !Catalog.MODEL_PRESETS.contains(ref.target())) {
      return Optional.empty();
    }
    ModelShape base = ModelShape.preset(ref.target());
    if (!ref.config().containsKey("vocab_size")) {
      if (!usesByteTokenizer(ref, donor)) {
        return Optional.empty();
      }
      base = base.withOverrides(java.util.Map.of("vocab_size", ModelShape.BYTE_VOCAB));
    }
    try {
      return Optional.of(base.withOverrides(ref.config()));
    } catch (IllegalArgumentException e) {
      return Optional.empty(); // a bad override: the trainer reports it when the job runs
    }
  }

  /** Mirrors the trainer's rule: an explicit tokenizer, else the donor's, else the byte one. */
  private static boolean usesByteTokenizer(ModelRef ref, ModelRef donor) {
    if (ref.tokenizer() != null) {
      return ref.tokenizer().equals(Catalog.BYTE_TOKENIZER);
    }
    if (donor == null) {
      return true;
    }
    // a builtin donor's tokenizer source is its own tokenizer file, if any
    return donor.isBuiltin()
        && (donor.tokenizer() == null || donor.tokenizer().equals(Catalog.BYTE_TOKENIZER));
  }

  /**
   * The plan's inputs for a spec, or empty when a model's shape is unknown to the resolver; a
   * teacher cache ({@code teacher_logits}) is taken to hold {@code teacher_pass.top_k}'s default.
   *
   * @param precision the job's precision ({@link Precision#defaultFor} when the spec has none)
   */
  public static Optional<PlanInputs> inputs(
      JobSpec spec, Precision precision, ShapeResolver resolver) {
    return inputs(spec, precision, resolver, TeacherPassSettings.defaults().topK());
  }

  /**
   * The same with the {@code top_k} of the teacher cache a distill job trains from (the {@code
   * teacher_pass} job's, which the service and the worker know and the spec does not); unused
   * without {@code teacher_logits}.
   */
  public static Optional<PlanInputs> inputs(
      JobSpec spec, Precision precision, ShapeResolver resolver, int cacheTopK) {
    JobType type = spec.type();
    ModelRef teacherRef = spec.teacher();
    ModelRef studentRef = spec.student();
    ModelShape teacher = null;
    ModelShape student = null;
    if (teacherRef != null) {
      Optional<ModelShape> t = resolver.shape(teacherRef, null);
      if (t.isEmpty()) {
        return Optional.empty();
      }
      teacher = t.get();
    }
    if (studentRef != null) {
      // a cached distill job's student takes the cache's tokenizer where it names none
      ModelRef donor =
          spec.teacherLogits() != null ? ModelRef.of(spec.teacherLogits()) : teacherRef;
      Optional<ModelShape> s = resolver.shape(studentRef, donor);
      if (s.isEmpty()) {
        return Optional.empty();
      }
      student = s.get();
    }
    boolean training = type == JobType.DISTILL || type == JobType.FINETUNE;
    if (type == JobType.FINETUNE) {
      teacher = null;
    }
    var hp = spec.hyperparameters();
    // synthesize generates one sequence at a time: a prompt (taken as at most 256 tokens) and
    // max_new_tokens; the others run micro-batches of max_seq_len
    boolean generating = type == JobType.SYNTHESIZE || spec.dataset() == null;
    int seqLen = generating ? spec.generation().maxNewTokens() + 256 : spec.dataset().maxSeqLen();
    int batch = generating ? 1 : hp.microBatchSize();
    int widest =
        Math.max(
            student == null ? 0 : student.vocabSize(), teacher == null ? 0 : teacher.vocabSize());
    return Optional.of(
        new PlanInputs(
            student,
            teacher,
            training,
            precision,
            batch,
            seqLen,
            Boolean.TRUE.equals(hp.activationCheckpointing()),
            PlanInputs.lossChunk(hp.lossChunkSize(), widest),
            training ? hp.lora() : null,
            training && spec.teacherLogits() != null ? cacheTopK : null));
  }

  /** The plan of a spec from the spec alone ({@link #SPEC_ONLY}), or empty. */
  public static Optional<MemoryPlan> plan(JobSpec spec, Precision precision) {
    return inputs(spec, precision, SPEC_ONLY).map(MemoryPlan::of);
  }

  /**
   * The same with the {@code top_k} of the job's teacher cache ({@link #inputs(JobSpec, Precision,
   * ShapeResolver, int)}).
   */
  public static Optional<MemoryPlan> plan(JobSpec spec, Precision precision, int cacheTopK) {
    return inputs(spec, precision, SPEC_ONLY, cacheTopK).map(MemoryPlan::of);
  }
}
