package dev.distill.service.job;

import dev.distill.spec.JobSpec;
import dev.distill.spec.TeacherPassSettings;
import dev.distill.spec.plan.MemoryPlan;
import dev.distill.spec.plan.Precision;
import dev.distill.spec.plan.SpecPlans;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * A job's memory requirement: {@code requirements.min_memory_mb} when the spec sets it, else the
 * total of its memory plan ({@code dev.distill.spec.plan}) when the spec alone tells the models'
 * shapes (builtin presets on a known vocabulary), else none (the worker plans {@code file:} models
 * when the job starts and fails it, naming both numbers, if it does not fit).
 *
 * @param minMemoryMb what {@code req_min_memory_mb} holds, or null
 * @param plan the plan it came from, or null when the spec set it or no plan could be made
 */
record MemoryRequirement(Long minMemoryMb, MemoryPlan plan) {

  static MemoryRequirement of(JobSpec spec) {
    return of(spec, TeacherPassSettings.defaults().topK());
  }

  /**
   * @param cacheTopK the {@code top_k} of the teacher cache a {@code teacher_logits} job trains
   *     from (its {@code teacher_pass} job's); unused otherwise
   */
  static MemoryRequirement of(JobSpec spec, int cacheTopK) {
    Long set = spec.requirements().minMemoryMb();
    if (set != null) {
      return new MemoryRequirement(set, null);
    }
    // precision: the spec's, else the default of the device asked for (issue 11)
    String named = spec.hyperparameters().precision();
    Optional<MemoryPlan> plan =
        SpecPlans.plan(
            spec,
            named != null
                ? Precision.of(named)
                : Precision.defaultFor(spec.requirements().device()),
            cacheTopK);
    return plan.map(p -> new MemoryRequirement(p.totalMib(), p))
        .orElse(new MemoryRequirement(null, null));
  }

  /** The plan as event data: precision, total and components in bytes. */
  Map<String, Object> eventData() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("min_memory_mb", minMemoryMb);
    if (plan != null) {
      m.put("precision", plan.inputs().precision().json());
      m.put("total_bytes", plan.totalBytes());
      m.put("components", plan.components());
    }
    return m;
  }
}
