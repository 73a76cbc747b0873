package dev.distill.trainer.recipe;

import dev.distill.trainer.text.EndpointConnector;
import java.nio.file.Path;
import java.util.Map;

/**
 * Where a run lives and who listens: everything the recipe needs besides the spec.
 *
 * @param outputDir the job's directory in the artifact store; checkpoints go to {@code
 *     outputDir/checkpoints}
 * @param artifacts local model directories of the {@code job:<id>} references in the spec, by job
 *     id
 * @param listener progress, metrics and checkpoints
 * @param stop asked between steps
 * @param endpoints opens the {@code openai:} references of the spec
 * @param charts draws the pictures of the output (the score histogram of an evaluation)
 * @param device {@code cpu}, {@code cuda} or {@code cuda:N} ({@code --device}); null for the
 *     engine's choice (the first GPU if any, else the CPU)
 * @param cacheStore where teacher-logit caches live by key ({@code <store>/<key sha256>/}), shared
 *     by every job of the artifact store so that a second pass of one key reuses the first's; null
 *     keeps a pass's cache under {@code outputDir/teacher-cache} (no reuse)
 */
public record RunContext(
    Path outputDir,
    Map<String, Path> artifacts,
    TrainingListener listener,
    StopSignal stop,
    EndpointConnector endpoints,
    Charts charts,
    String device,
    Path cacheStore) {

  /** A run without endpoints, charts or a cache store, on the engine's choice of device. */
  public RunContext(
      Path outputDir, Map<String, Path> artifacts, TrainingListener listener, StopSignal stop) {
    this(outputDir, artifacts, listener, stop, null, null, null, null);
  }

  public RunContext {
    if (outputDir == null) {
      throw new IllegalArgumentException("outputDir is required");
    }
    artifacts = artifacts == null ? Map.of() : Map.copyOf(artifacts);
    listener = listener == null ? TrainingListener.NONE : listener;
    stop = stop == null ? StopSignal.NEVER : stop;
    endpoints = endpoints == null ? EndpointConnector.NONE : endpoints;
    charts = charts == null ? Charts.NONE : charts;
  }

  public Path checkpointDir() {
    return outputDir.resolve("checkpoints");
  }

  /**
   * Where a synthesis or evaluation keeps what it has done so far, so that a later attempt resumes
   * from it ({@link ProgressLog}).
   */
  public Path progressDir() {
    return outputDir.resolve("progress");
  }
}
