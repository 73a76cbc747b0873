package dev.distill.app.cli;

import ai.djl.Device;
import dev.distill.app.worker.Worker;
import dev.distill.app.worker.WorkerConfig;
import dev.distill.spec.protocol.WorkerCapabilities;
import dev.distill.trainer.fused.NativeKernels;
import dev.distill.trainer.model.Devices;
import java.net.InetAddress;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code distill worker}: registers with the service and runs jobs until stopped. SIGTERM
 * checkpoints the running job, releases its lease (the attempt is not counted) and exits 0
 * (Kubernetes scale-down).
 */
@Command(name = "worker", description = "Run a worker: claim jobs from the service and train them.")
public final class WorkerCommand implements Callable<Integer> {

  @Option(
      names = "--url",
      description = "Service base URL (env DISTILL_URL, default http://localhost:8080).")
  String url;

  @Option(names = "--token", description = "Worker token (env DISTILL_TOKEN).")
  String token;

  @Option(names = "--id", description = "Worker id (default host name plus a random suffix).")
  String id;

  @Option(
      names = "--storage-root",
      description =
          "Artifact store directory shared by the workers (env DISTILL_STORAGE_ROOT, default DISTILL_HOME/data/artifacts).")
  Path storageRoot;

  @Option(
      names = "--metrics-port",
      description = "Port of /metrics; 0 picks one, -1 none (default 9400).")
  int metricsPort = 9400;

  @Option(
      names = "--metrics-address",
      description =
          "Address /metrics binds (default 127.0.0.1; 0.0.0.0 for every interface, as in containers).")
  String metricsAddress = "127.0.0.1";

  @Option(
      names = "--device",
      description = "cpu, cuda or cuda:N (default cpu); a CUDA device must be visible.")
  String device = "cpu";

  @Option(
      names = "--memory-mb",
      description =
          "Memory offered to jobs in MiB, at most the device's (default: read from the device:"
              + " the GPU's total, or physical memory / the cgroup limit).")
  Long memoryMb;

  @Option(
      names = "--label",
      description = "A label key=value offered to jobs' requirements; repeatable.")
  Map<String, String> labels = new HashMap<>();

  @Option(
      names = "--wait-seconds",
      description = "Long-poll wait of one claim, 1..30 (default 20).")
  int waitSeconds = 20;

  @Option(names = "--once", description = "Exit after one job.")
  boolean once;

  @Override
  public Integer call() throws Exception {
    String envUrl = System.getenv("DISTILL_URL");
    URI serviceUrl =
        url != null
            ? Connection.baseUri("--url", url)
            : Connection.baseUri(
                "DISTILL_URL",
                envUrl != null && !envUrl.isBlank() ? envUrl.trim() : Connection.DEFAULT_URL);
    String t = token != null ? token : System.getenv("DISTILL_TOKEN");
    Path root = storageRoot;
    if (root == null) {
      String env = System.getenv("DISTILL_STORAGE_ROOT");
      root =
          env != null && !env.isBlank()
              ? Path.of(env)
              : Connection.home().resolve("data").resolve("artifacts");
    }
    String workerId =
        id != null ? id : hostName() + "-" + UUID.randomUUID().toString().substring(0, 8);
    Device d = Devices.parse(device); // one line when the device is not there
    if (Boolean.getBoolean(NativeKernels.SWITCH)) {
      // told to train on the fused CPU kernels: a node that cannot load them must not claim jobs
      // (each would fail on it), so it stops here with the reason
      NativeKernels.require();
    }
    long deviceMb = Devices.totalMemoryBytes(d) >> 20;
    if (memoryMb != null && memoryMb > deviceMb) {
      throw new IllegalArgumentException(
          "--memory-mb " + memoryMb + " is more than the device's " + deviceMb + " MiB");
    }
    long mem = memoryMb != null ? memoryMb : deviceMb;
    WorkerConfig config =
        new WorkerConfig(
            serviceUrl,
            t,
            workerId,
            new WorkerCapabilities(Devices.kind(d), mem, labels),
            root.toAbsolutePath(),
            metricsPort,
            metricsAddress,
            waitSeconds,
            once,
            device);
    Worker worker = new Worker(config);
    Thread hook =
        new Thread(
            () -> {
              try {
                if (worker.awaitStopped(Duration.ZERO)) {
                  return; // a normal exit: keep its exit code
                }
              } catch (InterruptedException e) {
                return;
              }
              worker.shutdown();
              try {
                worker.awaitStopped(Duration.ofMinutes(2));
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
              Runtime.getRuntime().halt(0);
            },
            "worker-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      return worker.run();
    } finally {
      worker.close();
    }
  }

  private static String hostName() {
    try {
      return InetAddress.getLocalHost().getHostName().replaceAll("[^A-Za-z0-9._:-]", "-");
    } catch (Exception e) {
      return "worker";
    }
  }
}
