package dev.distill.service.job;

import dev.distill.service.config.DistillProperties;
import dev.distill.service.web.FieldError;
import dev.distill.spec.FileRefs;
import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.springframework.stereotype.Component;

/**
 * Which references a spec may make beyond its own syntax rules: {@code file:} only under the
 * configured roots, symlinks resolved, and never into the artifact store ({@link FileRefs}, the
 * rule the worker applies again). Returns the {@code job:} references by field, for the caller to
 * resolve within the caller's project.
 */
@Component
class RefPolicy {

  private final List<Path> roots;
  private final Path artifactRoot;

  RefPolicy(DistillProperties props) {
    this.roots = props.storage().allowedRoots();
    this.artifactRoot = props.storage().artifactRoot();
  }

  /** Every reference of the spec by its JSON field. */
  static Map<String, String> refs(JobSpec spec) {
    return FileRefs.references(spec);
  }

  /** Violations of the root policy. */
  List<FieldError> check(JobSpec spec) {
    List<FieldError> errors = new ArrayList<>();
    FileRefs.problems(spec, roots, artifactRoot)
        .forEach((field, problem) -> errors.add(new FieldError(field, problem)));
    return errors;
  }

  /** The {@code job:} references: field to job id. */
  static Map<String, UUID> jobRefs(JobSpec spec) {
    Map<String, UUID> out = new LinkedHashMap<>();
    refs(spec)
        .forEach(
            (field, uri) -> {
              if (uri.startsWith(ModelRef.JOB)) {
                out.put(field, UUID.fromString(uri.substring(ModelRef.JOB.length())));
              }
            });
    return out;
  }
}
