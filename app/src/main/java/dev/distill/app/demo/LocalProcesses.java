package dev.distill.app.demo;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Starts the service and workers as separate operating-system processes (real HTTP between them),
 * as the demo and the end-to-end tests need. Each process logs to its own file; {@link #close}
 * stops them with SIGTERM, then SIGKILL after a grace period.
 */
public final class LocalProcesses implements AutoCloseable {

  private final Path logDir;
  private final List<Process> started = new ArrayList<>();

  public LocalProcesses(Path logDir) throws IOException {
    this.logDir = Files.createDirectories(logDir);
    // a JVM stopped by a signal skips close(): without this its children (the service with its
    // PostgreSQL, the workers) would live on as orphans
    Runtime.getRuntime().addShutdownHook(new Thread(this::stopOnExit, "local-processes-shutdown"));
  }

  private void stopOnExit() {
    List<Process> alive;
    synchronized (started) {
      alive = List.copyOf(started);
    }
    alive.forEach(Process::destroy);
    for (Process p : alive) {
      try {
        if (!p.waitFor(20, TimeUnit.SECONDS)) {
          p.destroyForcibly();
        }
      } catch (InterruptedException e) {
        p.destroyForcibly();
      }
    }
  }

  /** A free TCP port on loopback. */
  public static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    }
  }

  /** The java executable of this JVM. */
  public static String java() {
    return ProcessHandle.current().info().command().orElse("java");
  }

  /**
   * The service jar: {@code DISTILL_SERVICE_JAR}, else {@code service/target/distill-service.jar}
   * above.
   */
  public static Path serviceJar() {
    String env = System.getProperty("distill.service.jar", System.getenv("DISTILL_SERVICE_JAR"));
    if (env != null && !env.isBlank()) {
      return Path.of(env);
    }
    Path dir = Path.of("").toAbsolutePath();
    for (Path p = dir; p != null; p = p.getParent()) {
      Path jar = p.resolve("service/target/distill-service.jar");
      if (Files.isRegularFile(jar)) {
        return jar;
      }
    }
    throw new IllegalStateException(
        "cannot find service/target/distill-service.jar; build it with ./mvnw -DskipTests package"
            + " or set DISTILL_SERVICE_JAR");
  }

  /**
   * Starts the service jar.
   *
   * @param home its DISTILL_HOME (embedded PostgreSQL data, admin token)
   * @param port its HTTP port
   * @param extraEnv more environment (for example DISTILL_LEASE_TTL)
   */
  public Process startService(Path home, int port, Map<String, String> extraEnv)
      throws IOException {
    List<String> cmd =
        new ArrayList<>(List.of(java(), "-Xmx512m", "-jar", serviceJar().toString()));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().put("DISTILL_HOME", home.toString());
    pb.environment().put("DISTILL_PORT", Integer.toString(port));
    pb.environment().putAll(extraEnv);
    return start(pb, "service");
  }

  /**
   * Starts a worker process running this JVM's classpath: {@code DistillCli worker ...}.
   *
   * @param name a name for its log file
   * @param args the worker command's arguments
   */
  public Process startWorker(String name, List<String> args, Map<String, String> env)
      throws IOException {
    List<String> cmd =
        new ArrayList<>(
            List.of(
                java(),
                "-Dai.djl.offline=true",
                "-XX:MaxDirectMemorySize=4g",
                "-Xmx2g",
                "-cp",
                System.getProperty("java.class.path"),
                "dev.distill.app.cli.DistillCli",
                "worker"));
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().putAll(env);
    return start(pb, name);
  }

  private Process start(ProcessBuilder pb, String name) throws IOException {
    Path log = logDir.resolve(name + ".log");
    pb.redirectErrorStream(true);
    pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    Process p = pb.start();
    synchronized (started) {
      started.add(p);
    }
    return p;
  }

  /** The log file of a started process. */
  public Path log(String name) {
    return logDir.resolve(name + ".log");
  }

  /** Waits until {@code url} answers 200, or fails naming the log to read. */
  public static void awaitHttpOk(URI url, Duration timeout, Process process, Path log)
      throws InterruptedException {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    Instant deadline = Instant.now().plus(timeout);
    while (Instant.now().isBefore(deadline)) {
      if (process != null && !process.isAlive()) {
        throw new IllegalStateException(
            "process exited with "
                + process.exitValue()
                + " before "
                + url
                + " answered; see "
                + log);
      }
      try {
        HttpResponse<Void> r =
            http.send(
                HttpRequest.newBuilder(url).timeout(Duration.ofSeconds(2)).build(),
                HttpResponse.BodyHandlers.discarding());
        if (r.statusCode() == 200) {
          return;
        }
      } catch (IOException notYet) {
        // not listening yet
      }
      Thread.sleep(250);
    }
    throw new IllegalStateException(url + " did not answer within " + timeout + "; see " + log);
  }

  /** SIGTERM, then SIGKILL after the grace period. */
  public static void stop(Process p, Duration grace) throws InterruptedException {
    if (!p.isAlive()) {
      return;
    }
    p.destroy();
    if (!p.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
      p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Override
  public void close() throws InterruptedException {
    // workers first (they may want to report), the service last
    for (int i = started.size() - 1; i >= 0; i--) {
      stop(started.get(i), Duration.ofSeconds(30));
    }
  }
}
