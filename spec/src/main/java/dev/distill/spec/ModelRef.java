package dev.distill.spec;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Map;

/**
 * A reference to a model: where its weights come from, and optional overrides of its config.
 *
 * <p>JSON: either a string ({@code "builtin:gemma2-tiny"}) or an object ({@code {"uri": ...,
 * "config": {...}}}). URI schemes:
 *
 * <ul>
 *   <li>{@code builtin:<preset>}: a freshly initialised model of a named size preset ({@link
 *       Catalog#MODEL_PRESETS}; training from scratch);
 *   <li>{@code file:<absolute path>}: a Hugging Face model directory ({@code config.json},
 *       safetensors, {@code tokenizer.json}); the service limits it to its configured roots;
 *   <li>{@code job:<uuid>}: the final checkpoint of another job of the same project.
 * </ul>
 *
 * @param uri where the weights come from
 * @param config overrides of Hugging Face {@code config.json} keys ({@link Catalog#CONFIG_KEYS};
 *     only for {@code builtin:}), for example {@code {"num_hidden_layers": 3, "hidden_size": 96}}
 * @param tokenizer {@code byte} for the built-in byte-level tokenizer, or a {@code file:} path to a
 *     {@code tokenizer.json}; absent means the model directory's own tokenizer (or {@code byte} for
 *     builtin presets)
 */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
public record ModelRef(
    @JsonProperty("uri") String uri,
    @JsonProperty("config") Map<String, Object> config,
    @JsonProperty("tokenizer") String tokenizer) {

  public static final String BUILTIN = "builtin:";
  public static final String FILE = "file:";
  public static final String JOB = "job:";

  @JsonCreator(mode = JsonCreator.Mode.PROPERTIES)
  public ModelRef {
    config = config == null ? Map.of() : Map.copyOf(config);
  }

  /** The string form. */
  @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
  public static ModelRef of(String uri) {
    return new ModelRef(uri, Map.of(), null);
  }

  @JsonIgnore
  public boolean isBuiltin() {
    return uri != null && uri.startsWith(BUILTIN);
  }

  @JsonIgnore
  public boolean isFile() {
    return uri != null && uri.startsWith(FILE);
  }

  @JsonIgnore
  public boolean isJob() {
    return uri != null && uri.startsWith(JOB);
  }

  /** The part after the scheme: a preset name, a path, or a job id. */
  public String target() {
    int colon = uri.indexOf(':');
    return uri.substring(colon + 1);
  }

  void check(Violations v) {
    Refs.check(v, "uri", uri);
    Refs.checkBuiltin(v, "uri", uri, "model", Catalog.MODEL_PRESETS);
    if (!config.isEmpty() && !isBuiltin()) {
      v.add("config", "overrides are only allowed for builtin: models");
    }
    for (Map.Entry<String, Object> e : config.entrySet()) {
      if (StoredValues.hasNul(e.getKey()) || StoredValues.hasNul(e.getValue())) {
        v.add("config", StoredValues.NUL_MESSAGE);
      } else if (!Catalog.CONFIG_KEYS.contains(e.getKey())) {
        v.add(
            "config." + e.getKey(),
            "unknown Gemma 2 config key, expected one of "
                + String.join(", ", Catalog.CONFIG_KEYS));
      } else if (!(e.getValue() instanceof Number
          || e.getValue() instanceof String
          || e.getValue() instanceof Boolean)) {
        v.add("config." + e.getKey(), "must be a number, string or boolean");
      }
    }
    if (tokenizer != null && !tokenizer.equals(Catalog.BYTE_TOKENIZER)) {
      if (!tokenizer.startsWith(FILE)) {
        v.add(
            "tokenizer",
            "must be 'byte' or a file: path to a tokenizer.json, was '" + tokenizer + "'");
      } else {
        Refs.check(v, "tokenizer", tokenizer);
      }
    }
  }
}
