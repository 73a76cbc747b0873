package dev.distill.app.cli;

import dev.distill.spec.JobSpec;
import dev.distill.spec.SpecJson;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.StringJoiner;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.exc.UnrecognizedPropertyException;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;
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
    return readTree(file, List.of());
  }

  /**
   * The file as a JSON tree with {@code FIELD=VALUE} assignments applied, checked as a {@link
   * JobSpec}.
   *
   * @param sets {@code teacher=job:<id>}, {@code hyperparameters.max_steps=50}: dots for nesting; a
   *     value that reads as a JSON number, boolean, object or array is that, else a string
   */
  public static JsonNode readTree(Path file, List<String> sets) {
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
    for (String set : sets) {
      apply(tree, set);
    }
    toSpec(file, tree);
    return tree;
  }

  /** Applies one {@code FIELD=VALUE} to the tree. */
  static void apply(JsonNode tree, String set) {
    int eq = set.indexOf('=');
    if (eq <= 0) {
      throw new IllegalArgumentException("--set " + set + ": expected FIELD=VALUE");
    }
    String[] path = set.substring(0, eq).split("\\.");
    String raw = set.substring(eq + 1);
    if (!tree.isObject()) {
      throw new IllegalArgumentException("--set " + set + ": the spec is not an object");
    }
    ObjectNode node = (ObjectNode) tree;
    for (int i = 0; i < path.length - 1; i++) {
      if (path[i].isEmpty()) {
        throw new IllegalArgumentException("--set " + set + ": empty field name");
      }
      JsonNode child = node.get(path[i]);
      if (child == null || child.isNull()) {
        node = node.putObject(path[i]);
      } else if (child.isObject()) {
        node = (ObjectNode) child;
      } else if (child.isString()) {
        // a model given as a string: "teacher.tokenizer=..." turns it into {"uri": ...}
        ObjectNode obj = node.putObject(path[i]);
        obj.put("uri", child.asString());
        node = obj;
      } else {
        throw new IllegalArgumentException("--set " + set + ": " + path[i] + " is not an object");
      }
    }
    node.set(path[path.length - 1], valueOf(raw));
  }

  private static JsonNode valueOf(String raw) {
    if (raw.equals("true")
        || raw.equals("false")
        || raw.startsWith("{")
        || raw.startsWith("[")
        || raw.matches("-?\\d+(\\.\\d+)?([eE][-+]?\\d+)?")) {
      try {
        return JsonMapper.builder().build().readTree(raw);
      } catch (RuntimeException e) {
        throw new IllegalArgumentException("--set value '" + raw + "' is not valid JSON", e);
      }
    }
    return JsonNodeFactory.instance.stringNode(raw);
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
