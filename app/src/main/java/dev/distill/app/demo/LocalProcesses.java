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

  private static final Path SETSID = Path.of("/usr/bin/setsid");

  private final Path logDir;
  private final Duration grace;
  private final boolean ownSessions;
  private final List<Process> started = new ArrayList<>();

  public LocalProcesses(Path logDir) throws IOException {
    this(logDir, Duration.ofSeconds(30), false);
  }

  /**
   * @param grace how long each process may take after SIGTERM before SIGKILL
   * @param ownSessions start each process in a session of its own (util-linux {@code setsid}, where
   *     present), so that Ctrl-C in the terminal reaches only this JVM, which then stops the
   *     processes in order instead of all at once
   */
  public LocalProcesses(Path logDir, Duration grace, boolean ownSessions) throws IOException {
    this.logDir = Files.createDirectories(logDir);
    this.grace = grace;
    this.ownSessions = ownSessions && Files.isExecutable(SETSID);
    // a JVM stopped by a signal skips close(): without this its children (the service with its
    // PostgreSQL, the workers) would live on as orphans
    Runtime.getRuntime().addShutdownHook(new Thread(this::stopOnExit, "local-processes-shutdown"));
  }

  /**
   * The last one started first, as {@link #close} does: workers before the service they report to
   * (a worker stopped by SIGTERM checkpoints its job and releases the lease through the service).
   */
  private void stopOnExit() {
    List<Process> alive;
    synchronized (started) {
      alive = new ArrayList<>(started);
    }
    java.util.Collections.reverse(alive);
    for (Process p : alive) {
      try {
        stop(p, grace);
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
    return startWorker(name, List.of(), args, env);
  }

  /**
   * As {@link #startWorker(String, List, Map)}, with more JVM options (for example {@code
   * -Dai.djl.pytorch.num_threads=1}).
   */
  public Process startWorker(
      String name, List<String> jvmOptions, List<String> args, Map<String, String> env)
      throws IOException {
    List<String> cmd =
        new ArrayList<>(
            List.of(java(), "-Dai.djl.offline=true", "-XX:MaxDirectMemorySize=4g", "-Xmx2g"));
    cmd.addAll(jvmOptions);
    cmd.addAll(
        List.of(
            "-cp",
            System.getProperty("java.class.path"),
            "dev.distill.app.cli.DistillCli",
            "worker"));
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().putAll(env);
    return start(pb, name);
  }

  /**
   * Starts any program as a process of this set (stopped with the others).
   *
   * @param name a name for its log file
   */
  public Process start(String name, List<String> command, Map<String, String> env)
      throws IOException {
    ProcessBuilder pb = new ProcessBuilder(new ArrayList<>(command));
    pb.environment().putAll(env);
    return start(pb, name);
  }

  private Process start(ProcessBuilder pb, String name) throws IOException {
    if (ownSessions) {
      // setsid execs the program in place (a child of the JVM leads no process group): same pid
      pb.command().add(0, SETSID.toString());
    }
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
    List<Process> all;
    synchronized (started) {
      all = new ArrayList<>(started);
    }
    for (int i = all.size() - 1; i >= 0; i--) {
      stop(all.get(i), grace);
    }
  }
}
