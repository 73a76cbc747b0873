package dev.distill.trainer.cli;

import dev.distill.spec.JobSpec;
import dev.distill.spec.SpecJson;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.StringJoiner;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.exc.UnrecognizedPropertyException;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * Reads job spec files (JSON, or YAML by extension) and checks them with the same records the
 * service uses. Errors name the file and the field in one line.
 */
public final class SpecFiles {

  private static final ObjectMapper STRICT = SpecJson.mapper();

  private SpecFiles() {}

  /** The file as a JSON tree, checked as a {@link JobSpec}. */
  public static JsonNode readTree(Path file) {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException(file + ": no such file");
    }
    String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
    ObjectMapper reader =
        name.endsWith(".yaml") || name.endsWith(".yml")
            ? SpecJson.configure(YAMLMapper.builder()).build()
            : STRICT;
    JsonNode tree;
    try {
      tree = reader.readTree(file.toFile());
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(file + ": not valid JSON/YAML: " + e.getMessage(), e);
    }
    toSpec(file, tree);
    return tree;
  }

  /** The file as a checked {@link JobSpec}. */
  public static JobSpec read(Path file) {
    return toSpec(file, readTree(file));
  }

  private static JobSpec toSpec(Path file, JsonNode tree) {
    try {
      return STRICT.treeToValue(tree, JobSpec.class);
    } catch (RuntimeException e) {
      Throwable root = e;
      while (root.getCause() != null) {
        root = root.getCause();
      }
      throw new IllegalArgumentException(file + ": " + describe(root), e);
    }
  }

  /** One line that names the field ({@code hyperparameters.bogus: unknown field; ...}). */
  private static String describe(Throwable root) {
    if (root instanceof JacksonException j && !j.getPath().isEmpty()) {
      StringJoiner path = new StringJoiner(".");
      for (JacksonException.Reference r : j.getPath()) {
        path.add(r.getPropertyName() != null ? r.getPropertyName() : "[" + r.getIndex() + "]");
      }
      String what =
          root instanceof UnrecognizedPropertyException u
              ? "unknown field; known: " + u.getKnownPropertyIds()
              : j.getOriginalMessage();
      return path + ": " + what.replace('\n', ' ');
    }
    return root.getMessage();
  }
}
