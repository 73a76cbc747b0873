package dev.distill.app.serve;

import dev.distill.app.control.JobsClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Supplier;
import tools.jackson.databind.JsonNode;

/**
 * What {@code --model} names: a model directory, {@code job:<id>} (the job's newest checkpoint, as
 * the control plane lists them: {@code GET /v1/jobs/{id}/checkpoints}) or {@code job:<id>@<step>}
 * (that step's checkpoint). The checkpoint's {@code file:} URI must be readable here, as on a
 * worker that shares the artifact store.
 */
public final class CheckpointRefs {

  public static final String JOB = "job:";

  private CheckpointRefs() {}

  /**
   * @param ref the {@code --model} value
   * @param jobs the control plane client, asked only for a {@code job:} reference
   * @return the local model directory
   * @throws IllegalArgumentException naming the reference when it cannot be resolved
   */
  public static Path resolve(String ref, Supplier<JobsClient> jobs) {
    if (!ref.startsWith(JOB)) {
      Path dir = Path.of(ref);
      if (!Files.isDirectory(dir)) {
        throw new IllegalArgumentException("--model " + ref + ": not a directory");
      }
      return dir;
    }
    String rest = ref.substring(JOB.length());
    String id = rest;
    Long step = null;
    int at = rest.indexOf('@');
    if (at >= 0) {
      id = rest.substring(0, at);
      try {
        step = Long.parseLong(rest.substring(at + 1));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(
            "--model " + ref + ": the step after @ must be a number, as in job:<id>@120");
      }
    }
    if (id.isEmpty()) {
      throw new IllegalArgumentException(
          "--model " + ref + ": expected job:<id> or job:<id>@<step>");
    }
    JsonNode chosen = null;
    for (JsonNode c : jobs.get().checkpoints(id).path("items")) {
      long s = c.path("step").asLong();
      if (step != null ? s == step : chosen == null || s > chosen.path("step").asLong()) {
        chosen = c;
      }
    }
    if (chosen == null) {
      throw new IllegalArgumentException(
          "--model "
              + ref
              + ": "
              + (step == null
                  ? "the job has no checkpoint yet"
                  : "the job has no checkpoint at step " + step));
    }
    String uri = chosen.path("uri").asString("");
    if (!uri.startsWith("file:")) {
      throw new IllegalArgumentException(
          "--model " + ref + ": checkpoint " + uri + " is not a file: URI");
    }
    Path dir = Path.of(uri.substring("file:".length()));
    if (!Files.isDirectory(dir)) {
      throw new IllegalArgumentException(
          "--model "
              + ref
              + ": checkpoint "
              + dir
              + " is not on this machine (serve where the artifact store is mounted)");
    }
    return dir;
  }

  /** The model name clients send by default: the reference as given, or the directory's name. */
  public static String defaultName(String ref) {
    if (ref.startsWith(JOB)) {
      return ref;
    }
    Path name = Path.of(ref).toAbsolutePath().normalize().getFileName();
    return name == null ? "model" : name.toString();
  }
}
