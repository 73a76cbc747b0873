package dev.distill.service.web;

import dev.distill.spec.Catalog;
import io.swagger.v3.oas.models.media.Schema;
import io.swagger.v3.oas.models.media.StringSchema;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * Puts the spec's {@link Catalog} into the OpenAPI schemas: the string fields with a fixed set of
 * names become enums, and references ({@code uri}, {@code tokenizer}) list their {@code builtin:}
 * names beside the {@code file:} and {@code job:} patterns. The names come from the same lists the
 * spec's checks use, so the document cannot drift from what the service accepts.
 */
final class SpecSchemas {

  static final String FILE_PATTERN = "^file:/.*";
  static final String JOB_PATTERN = "^job:[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$";

  private SpecSchemas() {}

  /** Adds the enums to the component schemas that exist (those the API's types use). */
  static void addCatalog(Map<String, Schema> schemas) {
    if (schemas == null) {
      return;
    }
    enumOf(schemas, "DatasetSpec", "format", Catalog.FORMATS);
    enumOf(schemas, "DatasetSpec", "template", Catalog.TEMPLATES);
    reference(schemas, "DatasetSpec", "uri", builtin(Catalog.DATASETS), true);
    enumOf(schemas, "GenerationSpec", "pre_query_template", Catalog.PRE_QUERY_TEMPLATES.keySet());
    enumOf(schemas, "Hyperparameters", "kd_loss", Catalog.KD_LOSSES);
    enumOf(schemas, "Requirements", "device", Catalog.DEVICES);
    Schema<?> targets = property(schemas, "LoraSpec", "target_modules");
    if (targets != null && targets.getItems() != null) {
      setEnum(targets.getItems(), Catalog.LORA_TARGET_MODULES);
    }
    reference(schemas, "ModelRef", "uri", builtin(Catalog.MODEL_PRESETS), true);
    reference(schemas, "ModelRef", "tokenizer", List.of(Catalog.BYTE_TOKENIZER), false);
    Schema<?> modelRef = schemas.get("ModelRef");
    if (modelRef != null && modelRef.getProperties() != null) {
      Schema<?> config = modelRef.getProperties().get("config");
      if (config != null) {
        Schema<?> keys = new StringSchema();
        setEnum(keys, Catalog.CONFIG_KEYS);
        config.setPropertyNames(keys);
        config.setDescription(
            "overrides of Hugging Face config.json keys (builtin: models only): "
                + String.join(", ", Catalog.CONFIG_KEYS));
      }
    }
  }

  private static List<String> builtin(List<String> names) {
    return names.stream().map(n -> "builtin:" + n).toList();
  }

  private static void enumOf(
      Map<String, Schema> schemas, String schema, String property, Collection<String> values) {
    Schema<?> s = property(schemas, schema, property);
    if (s != null) {
      setEnum(s, values);
    }
  }

  /** A reference field: one of the named values, or a file: path, or (withJob) a job: id. */
  private static void reference(
      Map<String, Schema> schemas,
      String schema,
      String property,
      List<String> names,
      boolean withJob) {
    Schema<?> s = property(schemas, schema, property);
    if (s == null) {
      return;
    }
    List<Schema> anyOf = new ArrayList<>();
    Schema<?> named = new StringSchema();
    setEnum(named, names);
    anyOf.add(named);
    anyOf.add(new StringSchema().pattern(FILE_PATTERN));
    if (withJob) {
      anyOf.add(new StringSchema().pattern(JOB_PATTERN));
    }
    s.setAnyOf(anyOf);
    s.setDescription(
        "one of "
            + String.join(", ", names)
            + ", or file:<absolute path>"
            + (withJob ? ", or job:<job id>" : ""));
  }

  private static Schema<?> property(Map<String, Schema> schemas, String schema, String property) {
    Schema<?> s = schemas.get(schema);
    if (s == null || s.getProperties() == null) {
      return null;
    }
    return s.getProperties().get(property);
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static void setEnum(Schema s, Collection<String> values) {
    s.setEnum(new ArrayList<>(values));
  }
}
