package dev.distill.trainer.text;

import dev.distill.spec.ModelRef;

/**
 * Opens an {@code openai:} model reference as a {@link TextModel}; the application provides it
 * (with the key of the endpoint, which never appears in a spec) through the run's context.
 */
@FunctionalInterface
public interface EndpointConnector {

  /**
   * @param ref an {@code openai:} reference
   * @throws IllegalArgumentException when this process cannot reach that endpoint
   */
  TextModel connect(ModelRef ref);

  /** For runs without endpoints: refuses every reference. */
  EndpointConnector NONE =
      ref -> {
        throw new IllegalArgumentException(
            ref.uri() + ": this run has no client for openai: endpoints (run it on a worker)");
      };
}
