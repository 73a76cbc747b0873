package dev.distill.service.job;

import dev.distill.service.config.DistillProperties;
import dev.distill.service.web.FieldError;
import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.springframework.stereotype.Component;

/**
 * Which references a spec may make beyond its own syntax rules: {@code file:} only under the
 * configured roots. Returns the {@code job:} references by field, for the caller to resolve.
 */
@Component
class RefPolicy {

  private final List<Path> roots;
  private final boolean checkFiles;

  RefPolicy(DistillProperties props) {
    this.roots = props.storage().allowedRoots();
    this.checkFiles = props.storage().checkFiles();
  }

  /** Every reference of the spec by its JSON field. */
  static Map<String, String> refs(JobSpec spec) {
    Map<String, String> refs = new LinkedHashMap<>();
    if (spec.teacher() != null) {
      refs.put("teacher.uri", spec.teacher().uri());
      if (spec.teacher().tokenizer() != null) {
        refs.put("teacher.tokenizer", spec.teacher().tokenizer());
      }
    }
    if (spec.student() != null) {
      refs.put("student.uri", spec.student().uri());
      if (spec.student().tokenizer() != null) {
        refs.put("student.tokenizer", spec.student().tokenizer());
      }
    }
    if (spec.dataset() != null) {
      refs.put("dataset.uri", spec.dataset().uri());
    }
    return refs;
  }

  /** Violations of the root policy. */
  List<FieldError> check(JobSpec spec) {
    List<FieldError> errors = new ArrayList<>();
    refs(spec)
        .forEach(
            (field, uri) -> {
              if (uri.startsWith(ModelRef.FILE)) {
                Path p = Path.of(uri.substring(ModelRef.FILE.length())).normalize();
                if (roots.stream().noneMatch(p::startsWith)) {
                  errors.add(
                      new FieldError(
                          field,
                          "file: paths must lie under an allowed root (distill.storage.allowed-roots: "
                              + roots
                              + ")"));
                }
              }
            });
    return errors;
  }

  /**
   * Where the service shares the workers' storage ({@code distill.storage.check-files}): the {@code
   * file:} references under an allowed root that do not exist or cannot be read, so such a job is
   * refused at submission instead of failing on a worker. A model is a directory, a dataset a file,
   * a tokenizer either ({@code tokenizer.json} or a model directory).
   */
  List<FieldError> missingFiles(JobSpec spec) {
    List<FieldError> errors = new ArrayList<>();
    if (!checkFiles) {
      return errors;
    }
    refs(spec)
        .forEach(
            (field, uri) -> {
              if (!uri.startsWith(ModelRef.FILE)) {
                return;
              }
              Path p = Path.of(uri.substring(ModelRef.FILE.length())).normalize();
              if (roots.stream().noneMatch(p::startsWith)) {
                return; // refused by check()
              }
              String problem = null;
              if (!Files.exists(p)) {
                problem = "does not exist";
              } else if (!Files.isReadable(p)) {
                problem = "is not readable by the service";
              } else if (field.endsWith(".tokenizer")) {
                problem = null;
              } else if (field.equals("dataset.uri") && !Files.isRegularFile(p)) {
                problem = "is not a file (a dataset is one JSON, JSONL or text file)";
              } else if (!field.equals("dataset.uri") && !Files.isDirectory(p)) {
                problem = "is not a directory (a model is a Hugging Face model directory)";
              }
              if (problem != null) {
                errors.add(new FieldError(field, p + " " + problem));
              }
            });
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
