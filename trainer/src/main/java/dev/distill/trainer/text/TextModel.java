package dev.distill.trainer.text;

/**
 * A model that answers with text. Implementations: an OpenAI-compatible endpoint (the application's
 * client; it retries 429 and 5xx itself and throws {@link TextModelException} when it gives up),
 * and one of our models generating in process.
 */
public interface TextModel extends AutoCloseable {

  /** Continues a raw prompt ({@code POST /v1/completions}). */
  TextAnswer complete(TextRequest request);

  /**
   * Answers one user message rendered with the model's chat template ({@code POST
   * /v1/chat/completions}).
   */
  TextAnswer chat(TextRequest request);

  /**
   * How many requests of one job may be in flight at once: the reference's {@code concurrency} for
   * an endpoint, 1 for a model in process (which runs on the recipe's thread).
   */
  int concurrency();

  /** Whether requests may be made from threads other than the recipe's. */
  default boolean threadSafe() {
    return concurrency() > 1;
  }

  @Override
  default void close() {}
}
