package dev.distill.app.worker;

import dev.distill.spec.protocol.WorkerCapabilities;
import java.net.URI;
import java.nio.file.Path;

/**
 * How a worker runs; checked when made.
 *
 * @param serviceUrl the service's base URL
 * @param token a worker-role bearer token
 * @param workerId stable id reported to the service
 * @param capabilities device, memory and labels offered
 * @param storageRoot the artifact store: a directory shared by the workers ({@code
 *     distill.storage.root})
 * @param metricsPort port of {@code /metrics}; 0 picks a free one, -1 serves none
 * @param metricsAddress the address {@code /metrics} binds; default {@code 127.0.0.1}, {@code
 *     0.0.0.0} for every interface (containers)
 * @param waitSeconds long-poll wait of one claim, 1..30
 * @param once exit after one job (tests and the demo's bounded runs)
 * @param device the device jobs run on: cpu, cuda or cuda:N (null: cpu)
 */
public record WorkerConfig(
    URI serviceUrl,
    String token,
    String workerId,
    WorkerCapabilities capabilities,
    Path storageRoot,
    int metricsPort,
    String metricsAddress,
    int waitSeconds,
    boolean once,
    String device) {

  public WorkerConfig {
    if (serviceUrl == null) {
      throw new IllegalArgumentException("service url is required (--url or DISTILL_URL)");
    }
    if (token == null || token.isBlank()) {
      throw new IllegalArgumentException("a worker token is required (--token or DISTILL_TOKEN)");
    }
    if (workerId == null || !workerId.matches("[A-Za-z0-9._:-]{1,128}")) {
      throw new IllegalArgumentException(
          "worker id must be 1..128 characters of A-Z a-z 0-9 . _ : -, was '" + workerId + "'");
    }
    if (storageRoot == null) {
      throw new IllegalArgumentException("storage root is required (--storage-root)");
    }
    if (metricsPort < -1 || metricsPort > 65535) {
      throw new IllegalArgumentException("metrics port must be -1..65535, was " + metricsPort);
    }
    if (waitSeconds < 1 || waitSeconds > 30) {
      throw new IllegalArgumentException("wait seconds must be 1..30, was " + waitSeconds);
    }
    device = device == null ? "cpu" : device;
    metricsAddress =
        metricsAddress == null || metricsAddress.isBlank() ? "127.0.0.1" : metricsAddress;
    capabilities = capabilities == null ? new WorkerCapabilities(null, null, null) : capabilities;
    String u = serviceUrl.toString();
    serviceUrl = u.endsWith("/") ? serviceUrl : URI.create(u + "/");
  }
}
