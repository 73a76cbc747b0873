package dev.distill.trainer.checkpoint;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * Writes, lists, verifies and prunes the {@code step-NNNNNN/} directories under one root.
 *
 * <p>{@link #save} writes into a hidden temporary directory, adds {@code trainer_state.json} and
 * {@code manifest.json} (SHA-256 of every other file), then renames it into place, so a crash never
 * leaves a half-written checkpoint that looks complete. {@link #load} recomputes every hash and
 * refuses a mismatch; {@link #latestValid} resumes from the newest checkpoint that verifies and
 * sets newer damaged ones aside. What pruning and setting aside removed is handed out with the next
 * saved {@link Checkpoint#deleted()}, for whoever lists checkpoints elsewhere.
 */
public final class CheckpointManager {

  public static final String MANIFEST = "manifest.json";
  public static final String TRAINER_STATE = "trainer_state.json";
  private static final Pattern STEP_DIR = Pattern.compile("step-(\\d{6,})");
  private static final ObjectMapper JSON = JsonMapper.builder().build();

  /** Writes the payload files (model, tokenizer, optimiser) of a checkpoint into a directory. */
  @FunctionalInterface
  public interface Payload {
    void writeTo(Path dir) throws IOException;
  }

  /** A checkpoint that failed verification on resume, and why. */
  public record Skipped(Path dir, String reason) {}

  private final Path root;
  private final int keepLast;
  private final List<Path> deletedSinceSave = new ArrayList<>();

  /**
   * @param root directory holding the checkpoints (created if needed)
   * @param keepLast how many recent checkpoints survive pruning, at least 1
   */
  public CheckpointManager(Path root, int keepLast) {
    if (keepLast < 1) {
      throw new IllegalArgumentException("keep_checkpoints must be >= 1, was " + keepLast);
    }
    this.root = root;
    this.keepLast = keepLast;
  }

  public Path root() {
    return root;
  }

  /** The directory name of a step. */
  public static String dirName(long step) {
    return String.format("step-%06d", step);
  }

  /** Writes a checkpoint atomically, then deletes all but the newest {@code keepLast}. */
  public Checkpoint save(TrainerState state, Payload payload) {
    Path target = root.resolve(dirName(state.step()));
    Path tmp = root.resolve("." + dirName(state.step()) + ".tmp");
    try {
      Files.createDirectories(root);
      deleteRecursively(tmp);
      Files.createDirectories(tmp);
      payload.writeTo(tmp);
      JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.resolve(TRAINER_STATE).toFile(), state);
      Map<String, String> files = hashFiles(tmp);
      JSON.writerWithDefaultPrettyPrinter()
          .writeValue(
              tmp.resolve(MANIFEST).toFile(), Map.of("algorithm", "SHA-256", "files", files));
      deleteRecursively(target);
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, target);
      }
    } catch (IOException e) {
      throw new CheckpointException("cannot write checkpoint " + target + ": " + e.getMessage(), e);
    }
    deletedSinceSave.remove(target); // written again
    prune();
    Checkpoint saved = describe(target, state, List.copyOf(deletedSinceSave));
    deletedSinceSave.clear();
    return saved;
  }

  /** The newest complete checkpoint, verified, if any. */
  public Optional<Checkpoint> latest() {
    List<Path> dirs = list();
    return dirs.isEmpty() ? Optional.empty() : Optional.of(load(dirs.get(dirs.size() - 1)));
  }

  /**
   * The newest checkpoint that verifies, for resuming. Each newer one that does not is renamed to
   * {@code .step-NNNNNN.damaged} (kept for inspection; neither listed, resumed from nor counted by
   * pruning again) and reported to {@code onSkipped}, newest first.
   *
   * @throws CheckpointException when checkpoints exist but none verifies, naming each and why
   *     (nothing is set aside then: starting over is not a silent choice)
   */
  public Optional<Checkpoint> latestValid(Consumer<Skipped> onSkipped) {
    List<Path> dirs = new ArrayList<>(list());
    List<Skipped> skipped = new ArrayList<>();
    for (int i = dirs.size() - 1; i >= 0; i--) {
      Path dir = dirs.get(i);
      try {
        Checkpoint c = load(dir);
        for (Skipped s : skipped) {
          setAside(s.dir());
          onSkipped.accept(s);
        }
        return Optional.of(c);
      } catch (CheckpointException e) {
        skipped.add(new Skipped(dir, e.getMessage()));
      }
    }
    if (skipped.isEmpty()) {
      return Optional.empty();
    }
    StringBuilder msg = new StringBuilder("no checkpoint under " + root + " verifies:");
    for (Skipped s : skipped) {
      msg.append("\n  ").append(s.reason());
    }
    throw new CheckpointException(msg.toString());
  }

  private void setAside(Path dir) {
    Path aside = root.resolve("." + dir.getFileName() + ".damaged");
    try {
      deleteRecursively(aside);
      Files.move(dir, aside);
    } catch (IOException e) {
      throw new CheckpointException("cannot set aside damaged " + dir + ": " + e.getMessage(), e);
    }
    deletedSinceSave.add(dir);
  }

  /** Complete checkpoint directories, oldest first. */
  public List<Path> list() {
    if (!Files.isDirectory(root)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(root)) {
      return s.filter(p -> STEP_DIR.matcher(p.getFileName().toString()).matches())
          .filter(p -> Files.isRegularFile(p.resolve(MANIFEST)))
          .sorted(Comparator.comparingLong(CheckpointManager::stepOf))
          .toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Reads and verifies a checkpoint directory: every file listed in its manifest must hash to its
   * value.
   */
  public static Checkpoint load(Path dir) {
    Path manifestFile = dir.resolve(MANIFEST);
    if (!Files.isRegularFile(manifestFile)) {
      throw new CheckpointException(dir + ": no " + MANIFEST + " (incomplete or not a checkpoint)");
    }
    Map<?, ?> manifest;
    try {
      manifest = JSON.readValue(manifestFile.toFile(), Map.class);
    } catch (RuntimeException e) {
      throw new CheckpointException(manifestFile + ": unreadable manifest: " + e.getMessage(), e);
    }
    if (!(manifest.get("files") instanceof Map<?, ?> expected)) {
      throw new CheckpointException(manifestFile + ": no \"files\" object");
    }
    Map<String, String> actual;
    try {
      actual = hashFiles(dir);
    } catch (IOException e) {
      throw new CheckpointException(dir + ": cannot read: " + e.getMessage(), e);
    }
    for (Map.Entry<?, ?> e : expected.entrySet()) {
      String name = String.valueOf(e.getKey());
      String have = actual.get(name);
      if (have == null) {
        throw new CheckpointException(dir.resolve(name) + ": listed in the manifest but missing");
      }
      if (!have.equals(e.getValue())) {
        throw new CheckpointException(
            dir.resolve(name)
                + ": SHA-256 mismatch (manifest "
                + e.getValue()
                + ", file "
                + have
                + ")");
      }
    }
    for (String name : actual.keySet()) {
      if (!expected.containsKey(name)) {
        throw new CheckpointException(dir.resolve(name) + ": not listed in the manifest");
      }
    }
    TrainerState state;
    try {
      state = JSON.readValue(dir.resolve(TRAINER_STATE).toFile(), TrainerState.class);
    } catch (RuntimeException e) {
      throw new CheckpointException(dir.resolve(TRAINER_STATE) + ": " + e.getMessage(), e);
    }
    return describe(dir, state, List.of());
  }

  private static Checkpoint describe(Path dir, TrainerState state, List<Path> deleted) {
    try (Stream<Path> s = Files.walk(dir)) {
      long size = s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
      return new Checkpoint(dir, state.step(), state, size, sha256(dir.resolve(MANIFEST)), deleted);
    } catch (IOException e) {
      throw new CheckpointException(dir + ": " + e.getMessage(), e);
    }
  }

  private void prune() {
    List<Path> dirs = new ArrayList<>(list());
    while (dirs.size() > keepLast) {
      try {
        Path old = dirs.remove(0);
        deleteRecursively(old);
        deletedSinceSave.add(old);
      } catch (IOException e) {
        throw new CheckpointException("cannot delete old checkpoint: " + e.getMessage(), e);
      }
    }
  }

  private static long stepOf(Path p) {
    Matcher m = STEP_DIR.matcher(p.getFileName().toString());
    return m.matches() ? Long.parseLong(m.group(1)) : -1;
  }

  /** SHA-256 of every regular file below {@code dir} except the manifest, by relative path. */
  static Map<String, String> hashFiles(Path dir) throws IOException {
    Map<String, String> out = new TreeMap<>();
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.filter(Files::isRegularFile).toList()) {
        String rel = dir.relativize(p).toString().replace('\\', '/');
        if (!rel.equals(MANIFEST)) {
          out.put(rel, sha256(p));
        }
      }
    }
    return out;
  }

  /** Hex SHA-256 of a file, streamed. */
  public static String sha256(Path file) {
    try (InputStream in =
        new DigestInputStream(Files.newInputStream(file), MessageDigest.getInstance("SHA-256"))) {
      byte[] buf = new byte[1 << 16];
      while (in.read(buf) >= 0) {
        // digesting
      }
      return HexFormat.of().formatHex(((DigestInputStream) in).getMessageDigest().digest());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static void deleteRecursively(Path p) throws IOException {
    if (!Files.exists(p)) {
      return;
    }
    try (Stream<Path> s = Files.walk(p)) {
      for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(q);
      }
    }
  }
}
