package dev.distill.service.job;

import dev.distill.service.config.DistillProperties;
import dev.distill.service.config.EndpointAllowList;
import dev.distill.service.web.FieldError;
import dev.distill.spec.Endpoints;
import dev.distill.spec.FileRefs;
import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.springframework.stereotype.Component;

/**
 * Which references a spec may make beyond its own syntax rules: {@code file:} only under the
 * configured roots, symlinks resolved, and never into the artifact store ({@link FileRefs}, the
 * rule the worker applies again). Returns the {@code job:} references by field, for the caller to
 * resolve within the caller's project. An {@code openai:} reference must be one of the configured
 * endpoints ({@link EndpointAllowList}).
 */
@Component
class RefPolicy {

  private final List<Path> roots;
  private final boolean checkFiles;
  private final Path artifactRoot;
  private final EndpointAllowList endpoints;

  RefPolicy(DistillProperties props) {
    this.roots = props.storage().allowedRoots();
    this.checkFiles = props.storage().checkFiles();
    this.artifactRoot = props.storage().artifactRoot();
    this.endpoints = props.endpointAllowList();
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
    refs(spec)
        .forEach(
            (field, uri) -> {
              if (Endpoints.isEndpoint(uri) && endpointName(uri).isEmpty()) {
                errors.add(
                    new FieldError(
                        field,
                        "is not an allow-listed endpoint: its base URL must be one of those"
                            + " configured in distill.endpoints ("
                            + (endpoints.byName().isEmpty()
                                ? "none configured"
                                : "named " + String.join(", ", endpoints.byName().keySet()))
                            + ")"));
              }
            });
    return errors;
  }

  /** The allow-list name of an {@code openai:} reference, empty when it is not on the list. */
  Optional<String> endpointName(String uri) {
    try {
      return endpoints.nameOf(Endpoints.baseUrl(uri));
    } catch (IllegalArgumentException e) {
      return Optional.empty(); // malformed: the spec's own check has said why
    }
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
              if (FileRefs.problem(uri, roots, artifactRoot) != null) {
                return; // refused by check()
              }
              Path p = Path.of(uri.substring(ModelRef.FILE.length())).normalize();
              String problem = null;
              if (!Files.exists(p)) {
                problem = "does not exist";
              } else if (!Files.isReadable(p)) {
                problem = "is not readable by the service";
              } else if (field.endsWith(".tokenizer")) {
                problem = null;
              } else if (field.startsWith("dataset.") && !Files.isRegularFile(p)) {
                // dataset.uri and each dataset.mix[i].uri
                problem = "is not a file (a dataset is one JSON, JSONL or text file)";
              } else if (!field.startsWith("dataset.") && !Files.isDirectory(p)) {
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
