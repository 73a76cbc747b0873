package dev.distill.app.worker;

import dev.distill.app.endpoint.EndpointKeys;
import dev.distill.app.endpoint.OpenAiClient;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.text.EndpointConnector;
import dev.distill.trainer.text.TextModel;
import java.util.Map;

/**
 * The endpoints one claim may call: only those the service named in it (its allow-list's names by
 * canonical base URL), each with the worker's key for that name.
 */
final class Endpoints implements EndpointConnector {

  private final Map<String, String> namesByBaseUrl;
  private final EndpointKeys keys;
  private final OpenAiClient.Settings settings;

  Endpoints(Map<String, String> namesByBaseUrl, EndpointKeys keys, OpenAiClient.Settings settings) {
    this.namesByBaseUrl = Map.copyOf(namesByBaseUrl);
    this.keys = keys;
    this.settings = settings;
  }

  @Override
  public TextModel connect(ModelRef ref) {
    String base = dev.distill.spec.Endpoints.baseUrl(ref.uri());
    String name = namesByBaseUrl.get(base);
    if (name == null) {
      throw new IllegalArgumentException(
          ref.uri() + ": the service did not name this endpoint in the claim (not allow-listed)");
    }
    return new OpenAiClient(
        name, base, ref.model(), keys.key(name).orElse(null), ref.concurrencyOrDefault(), settings);
  }
}
