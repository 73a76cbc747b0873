package dev.distill.trainer.data;

import java.nio.file.Files;
import java.nio.file.Path;

/** Finds {@code shared/datasets} by walking up from the working directory; fails (never skips). */
public final class SharedDatasets {

  private SharedDatasets() {}

  public static Path file(String name) {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null) {
      Path candidate = dir.resolve("shared").resolve("datasets");
      if (Files.isDirectory(candidate)) {
        Path f = candidate.resolve(name);
        if (!Files.isRegularFile(f)) {
          throw new IllegalStateException("reference file missing: " + f);
        }
        return f;
      }
      dir = dir.getParent();
    }
    throw new IllegalStateException(
        "no shared/datasets directory above "
            + Path.of("").toAbsolutePath()
            + " (needed: "
            + name
            + ")");
  }
}
