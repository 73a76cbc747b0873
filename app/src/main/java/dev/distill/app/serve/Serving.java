package dev.distill.app.serve;

import java.net.URI;
import java.nio.file.Path;

/**
 * A checkpoint loaded and answering on its address, until closed: what {@code distill serve} runs.
 */
public final class Serving implements AutoCloseable {

  private final ServedModel model;
  private final OpenAiServer server;

  private Serving(ServedModel model, OpenAiServer server) {
    this.model = model;
    this.server = server;
  }

  /**
   * Loads the model and starts listening.
   *
   * @param dir the model directory
   * @param name the model id clients send
   * @param template a chat template name, or null to take the checkpoint's (else gemma)
   * @param device {@code cpu} or {@code gpu}
   */
  public static Serving start(
      Path dir, String name, String template, String device, ServeOptions options) {
    ServedModel model = ServedModel.load(dir, name, template, device);
    try {
      return new Serving(model, OpenAiServer.start(model, options));
    } catch (RuntimeException e) {
      model.close();
      throw e;
    }
  }

  /** {@code http://host:port/v1}, the base URL OpenAI clients take. */
  public URI baseUrl() {
    var a = server.address();
    String host = a.getAddress().isAnyLocalAddress() ? "127.0.0.1" : a.getHostString();
    return URI.create("http://" + host + ":" + a.getPort() + "/v1");
  }

  public String modelName() {
    return model.name();
  }

  /** The chat template's name and what chose it. */
  public String chatTemplate() {
    return model.template().template().id() + " (" + model.template().source() + ")";
  }

  @Override
  public void close() {
    server.close();
    model.close();
  }
}
