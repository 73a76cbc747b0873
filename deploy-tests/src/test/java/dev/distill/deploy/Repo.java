package dev.distill.deploy;

import java.nio.file.Files;
import java.nio.file.Path;

/** The repository checkout the deployment files live in. */
final class Repo {

  private Repo() {}

  /**
   * The repository root: the system property {@code distill.repo.root} (set by the module's pom),
   * else the first directory upwards from the working directory holding {@code
   * helm/distill/Chart.yaml}.
   */
  static Path root() {
    String prop = System.getProperty("distill.repo.root");
    if (prop != null && Files.isRegularFile(Path.of(prop, "helm", "distill", "Chart.yaml"))) {
      return Path.of(prop).toAbsolutePath().normalize();
    }
    Path start = Path.of("").toAbsolutePath();
    for (Path d = start; d != null; d = d.getParent()) {
      if (Files.isRegularFile(d.resolve("helm/distill/Chart.yaml"))) {
        return d;
      }
    }
    throw new IllegalStateException(
        "no helm/distill/Chart.yaml in "
            + start
            + " or any parent (system property distill.repo.root: "
            + prop
            + ")");
  }

  static Path chart() {
    return root().resolve("helm/distill");
  }
}
