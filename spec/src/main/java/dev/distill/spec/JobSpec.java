package dev.distill.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Map;

/**
 * What a client asks for: the body of {@code POST /v1/jobs} and what a worker runs. The constructor
 * fills defaults and checks every field, throwing {@link InvalidSpecException} with all violations
 * at once.
 *
 * <p>Which model fields a type needs: {@code distill}: teacher and student; {@code finetune}:
 * student (the model trained), no teacher; {@code evaluate}: student (the model scored), teacher
 * optional (for KL and agreement); {@code synthesize}: teacher (the generator), no student.
 *
 * @param type what the job does
 * @param teacher the model whose distributions are learned, or which generates or is compared
 *     against
 * @param student the model trained or evaluated
 * @param dataset the data; not used by synthesize
 * @param hyperparameters training settings; defaults when absent
 * @param generation generation settings for evaluate and synthesize
 * @param requirements what a worker must have to claim the job
 * @param priority higher runs first, -1000..1000, default 0
 * @param maxAttempts how many times a job is started before it fails for good, 1..20, default 3
 * @param metadata free string labels for the client, at most 64 entries
 * @param judge {@code evaluate} only: grade each example's response with a judge model
 * @param teacherLogits {@code job:<id>} of a {@code teacher_pass} job whose cache a {@code distill}
 *     job trains from instead of a teacher model
 * @param teacherPass the cache's settings of a {@code teacher_pass} job; defaults when absent
 * @param checkpoints {@code evaluate} only: score the latest or every checkpoint of a {@code
 *     job:<id>} student, and by which metric the best is chosen; absent means the latest
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record JobSpec(
    @JsonProperty("type") JobType type,
    @JsonProperty("teacher") ModelRef teacher,
    @JsonProperty("student") ModelRef student,
    @JsonProperty("dataset") DatasetSpec dataset,
    @JsonProperty("hyperparameters") Hyperparameters hyperparameters,
    @JsonProperty("generation") GenerationSpec generation,
    @JsonProperty("requirements") Requirements requirements,
    @JsonProperty("priority") Integer priority,
    @JsonProperty("max_attempts") Integer maxAttempts,
    @JsonProperty("metadata") Map<String, String> metadata,
    @JsonProperty("judge") JudgeSpec judge,
    @JsonProperty("teacher_logits") String teacherLogits,
    @JsonProperty("teacher_pass") TeacherPassSettings teacherPass,
    @JsonProperty("checkpoints") CheckpointSelection checkpoints) {

  /** A spec without a checkpoint selection (the fields before it existed). */
  public JobSpec(
      JobType type,
      ModelRef teacher,
      ModelRef student,
      DatasetSpec dataset,
      Hyperparameters hyperparameters,
      GenerationSpec generation,
      Requirements requirements,
      Integer priority,
      Integer maxAttempts,
      Map<String, String> metadata,
      JudgeSpec judge,
      String teacherLogits,
      TeacherPassSettings teacherPass) {
    this(
        type,
        teacher,
        student,
        dataset,
        hyperparameters,
        generation,
        requirements,
        priority,
        maxAttempts,
        metadata,
        judge,
        teacherLogits,
        teacherPass,
        null);
  }

  /** A spec without a teacher cache or a judge (the fields before both existed). */
  public JobSpec(
      JobType type,
      ModelRef teacher,
      ModelRef student,
      DatasetSpec dataset,
      Hyperparameters hyperparameters,
      GenerationSpec generation,
      Requirements requirements,
      Integer priority,
      Integer maxAttempts,
      Map<String, String> metadata) {
    this(
        type,
        teacher,
        student,
        dataset,
        hyperparameters,
        generation,
        requirements,
        priority,
        maxAttempts,
        metadata,
        null,
        null,
        null,
        null);
  }

  public JobSpec {
    hyperparameters = hyperparameters == null ? Hyperparameters.defaults() : hyperparameters;
    generation = generation == null ? GenerationSpec.defaults() : generation;
    requirements = requirements == null ? Requirements.none() : requirements;
    priority = priority == null ? 0 : priority;
    maxAttempts = maxAttempts == null ? 3 : maxAttempts;
    metadata = metadata == null ? Map.of() : Map.copyOf(metadata);
    if (type == JobType.TEACHER_PASS && teacherPass == null) {
      teacherPass = TeacherPassSettings.defaults();
    }
    Violations v = new Violations("");
    check(v, type, teacher, student, dataset, teacherLogits);
    checkEndpoints(v, type, teacher, student);
    checkJudge(v, type, dataset, judge);
    checkCache(v, type, teacherLogits, teacherPass, hyperparameters);
    if (checkpoints != null) {
      if (type != JobType.EVALUATE) {
        v.add("checkpoints", "is only for evaluate jobs");
      } else {
        checkpoints.check(v.at("checkpoints"), student, teacher, judge);
      }
    }
    hyperparameters.check(v.at("hyperparameters"));
    generation.check(v.at("generation"));
    checkAcross(v, type, dataset, hyperparameters, generation);
    requirements.check(v.at("requirements"));
    v.range("priority", priority, -1000, 1000);
    v.range("max_attempts", maxAttempts, 1, 20);
    v.storable("metadata", metadata);
    if (metadata.size() > 64) {
      v.add("metadata", "at most 64 entries, was " + metadata.size());
    }
    metadata.forEach(
        (k, val) -> {
          if (k.length() > 128 || (val != null && val.length() > 1024)) {
            v.add("metadata." + k, "keys are at most 128 and values at most 1024 characters");
          }
        });
    v.throwIfAny();
  }

  private static void check(
      Violations v,
      JobType type,
      ModelRef teacher,
      ModelRef student,
      DatasetSpec dataset,
      String teacherLogits) {
    if (type == null) {
      v.add("type", "is required: one of distill, finetune, synthesize, evaluate, teacher_pass");
      return;
    }
    switch (type) {
      case DISTILL -> {
        if (teacherLogits == null) {
          v.required("teacher", teacher);
        } else if (teacher != null) {
          v.add(
              "teacher",
              "must be absent when teacher_logits names a teacher cache (the cache is the teacher)");
        }
        v.required("student", student);
        v.required("dataset", dataset);
      }
      case FINETUNE -> {
        v.required("student", student);
        v.required("dataset", dataset);
        if (teacher != null) {
          v.add("teacher", "must be absent for finetune (use distill to learn from a teacher)");
        }
      }
      case EVALUATE -> {
        v.required("student", student);
        v.required("dataset", dataset);
      }
      case SYNTHESIZE -> {
        v.required("teacher", teacher);
        if (student != null) {
          v.add("student", "must be absent for synthesize (the teacher generates the data)");
        }
      }
      case TEACHER_PASS -> {
        v.required("teacher", teacher);
        v.required("dataset", dataset);
        if (student != null) {
          v.add("student", "must be absent for teacher_pass (it writes the teacher's logits)");
        }
      }
    }
    if (teacher != null) {
      teacher.check(v.at("teacher"));
    }
    if (student != null) {
      student.check(v.at("student"));
    }
    if (dataset != null) {
      dataset.check(v.at("dataset"));
    }
  }

  /**
   * An {@code openai:} endpoint answers with text only: it can write a synthesis (the teacher of
   * {@code synthesize}) or grade answers (the judge of {@code evaluate}), never be trained, scored
   * or distilled from, which needs its weights or logits.
   */
  private static void checkEndpoints(
      Violations v, JobType type, ModelRef teacher, ModelRef student) {
    String why =
        "an openai: endpoint gives text only: it can be the teacher of synthesize or the"
            + " judge.model of evaluate";
    if (student != null && student.isEndpoint()) {
      v.add("student.uri", why);
    }
    if (teacher != null && teacher.isEndpoint() && type != JobType.SYNTHESIZE) {
      v.add("teacher.uri", why);
    }
  }

  private static void checkJudge(Violations v, JobType type, DatasetSpec dataset, JudgeSpec judge) {
    if (judge == null) {
      return;
    }
    if (type != JobType.EVALUATE) {
      v.add("judge", "is only for evaluate jobs");
      return;
    }
    judge.check(v.at("judge"));
    if (dataset != null && !"alpaca".equals(dataset.format())) {
      v.add(
          "dataset.format",
          "must be alpaca when a judge scores (instruction, input, output records), was '"
              + dataset.format()
              + "'");
    }
  }

  /** {@code teacher_logits} and {@code teacher_pass}: only where they mean something. */
  private static void checkCache(
      Violations v,
      JobType type,
      String teacherLogits,
      TeacherPassSettings teacherPass,
      Hyperparameters hp) {
    if (teacherLogits != null) {
      if (type != JobType.DISTILL) {
        v.add("teacher_logits", "is only allowed for distill jobs");
      } else {
        v.storable("teacher_logits", teacherLogits);
        if (!teacherLogits.startsWith(ModelRef.JOB)) {
          v.add(
              "teacher_logits",
              "must be job:<id> of a teacher_pass job, was '" + teacherLogits + "'");
        } else {
          Refs.check(v, "teacher_logits", teacherLogits);
        }
        if (hp.temperature() != null && hp.temperature() != 1.0) {
          v.add(
              "hyperparameters.temperature",
              "must be 1 with teacher_logits: the cache holds the teacher's top-k log-probabilities"
                  + " at temperature 1, and another temperature needs every logit");
        }
      }
    }
    if (teacherPass != null) {
      if (type != JobType.TEACHER_PASS) {
        v.add("teacher_pass", "is only allowed for teacher_pass jobs");
      } else {
        teacherPass.check(v.at("teacher_pass"));
      }
    }
  }

  /** Checks between fields: what a recipe would otherwise find only when it runs. */
  private static void checkAcross(
      Violations v,
      JobType type,
      DatasetSpec dataset,
      Hyperparameters hp,
      GenerationSpec generation) {
    if (type == null) {
      return;
    }
    boolean noValidation = dataset != null && dataset.validationFraction() == 0.0;
    if (type != JobType.EVALUATE
        && dataset != null
        && dataset.validationFraction() == DatasetSpec.WHOLE_FILE) {
      v.add(
          "dataset.validation_fraction",
          "1 (the whole file as the evaluation set) is only for evaluate jobs");
    }
    if (type == JobType.EVALUATE && noValidation) {
      v.add(
          "dataset.validation_fraction",
          "must be greater than 0 for evaluate jobs: the scores are computed on the held-out share");
    }
    if ((type == JobType.DISTILL || type == JobType.FINETUNE)
        && noValidation
        && hp.evalEvery() != null
        && hp.evalEvery() > 0) {
      v.add(
          "dataset.validation_fraction",
          "must be greater than 0 when hyperparameters.eval_every ("
              + hp.evalEvery()
              + ") asks for validation passes");
    }
    if (type == JobType.SYNTHESIZE && generation.corpus()) {
      // instruction pre-training: pairs grounded in the chunks of a raw text corpus
      if (dataset == null) {
        v.add("dataset", "is required for generation.mode corpus (the text to chunk)");
      } else if (!"text".equals(dataset.format())) {
        v.add(
            "dataset.format",
            "must be text for generation.mode corpus (plain text, or JSONL with a text field),"
                + " was '"
                + dataset.format()
                + "'");
      } else if (dataset.uri() != null && dataset.uri().startsWith("builtin:")) {
        v.add("dataset.uri", "must be a file: or job: text corpus for generation.mode corpus");
      }
      return;
    }
    if (type == JobType.SYNTHESIZE && generation.responses()) {
      // sequence-level distillation: the teacher answers the dataset's instructions
      if (dataset == null) {
        v.add("dataset", "is required for generation.mode responses (the instructions to answer)");
      } else if (!"alpaca".equals(dataset.format()) && !"chat".equals(dataset.format())) {
        v.add(
            "dataset.format",
            "must be alpaca or chat for generation.mode responses (instructions), was '"
                + dataset.format()
                + "'");
      } else if (dataset.uri() != null && dataset.uri().startsWith("builtin:")) {
        v.add(
            "dataset.uri",
            "must be a file: or job: instruction dataset for generation.mode responses");
      }
      return;
    }
    if (type == JobType.SYNTHESIZE
        && generation.preQueryTemplate() == null
        && dataset != null
        && "alpaca".equals(dataset.template())) {
      v.add(
          "generation.pre_query_template",
          "is required when dataset.template is alpaca (it has no chat turns for Magpie); one of "
              + String.join(", ", Catalog.PRE_QUERY_TEMPLATES.keySet()));
    }
  }
}
