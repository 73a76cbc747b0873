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
 *   <li>{@code job:<uuid>}: the final checkpoint of another job of the same project;
 *   <li>{@code openai:<base URL>}: an OpenAI-compatible endpoint (vLLM, Ollama, {@code distill
 *       serve}, a hosted API) that answers with text only, so it may be only the {@code teacher} of
 *       {@code synthesize} and the {@code judge} of {@code evaluate}; the base URL must be on the
 *       service's allow-list ({@code distill.endpoints}), and the key is the worker's ({@link
 *       Endpoints}).
 * </ul>
 *
 * @param uri where the weights come from
 * @param config overrides of Hugging Face {@code config.json} keys ({@link Catalog#CONFIG_KEYS};
 *     only for {@code builtin:}), for example {@code {"num_hidden_layers": 3, "hidden_size": 96}}
 * @param tokenizer {@code byte} for the built-in byte-level tokenizer, or a {@code file:} path to a
 *     {@code tokenizer.json}; absent means the model directory's own tokenizer (or {@code byte} for
 *     builtin presets)
 * @param model {@code openai:} only, required there: the served model name sent as {@code model}
 * @param concurrency {@code openai:} only: at most this many requests of the job in flight at once,
 *     1..64, default 4
 */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
public record ModelRef(
    @JsonProperty("uri") String uri,
    @JsonProperty("config") Map<String, Object> config,
    @JsonProperty("tokenizer") String tokenizer,
    @JsonProperty("model") String model,
    @JsonProperty("concurrency") Integer concurrency) {

  public static final String BUILTIN = "builtin:";
  public static final String FILE = "file:";
  public static final String JOB = "job:";

  /** Requests in flight per job to an endpoint when {@code concurrency} is absent. */
  public static final int DEFAULT_CONCURRENCY = 4;

  @JsonCreator(mode = JsonCreator.Mode.PROPERTIES)
  public ModelRef {
    config = config == null ? Map.of() : Map.copyOf(config);
  }

  /** A model of our own (no endpoint fields). */
  public ModelRef(String uri, Map<String, Object> config, String tokenizer) {
    this(uri, config, tokenizer, null, null);
  }

  /** The string form. */
  @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
  public static ModelRef of(String uri) {
    return new ModelRef(uri, Map.of(), null);
  }

  /** An endpoint reference: {@code openai:<base URL>} serving {@code model}. */
  public static ModelRef endpoint(String baseUrl, String model) {
    return new ModelRef(Endpoints.SCHEME + baseUrl, Map.of(), null, model, null);
  }

  @JsonIgnore
  public boolean isEndpoint() {
    return Endpoints.isEndpoint(uri);
  }

  /** Requests in flight at once for an endpoint reference. */
  @JsonIgnore
  public int concurrencyOrDefault() {
    return concurrency == null ? DEFAULT_CONCURRENCY : concurrency;
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
    if (isEndpoint()) {
      if (model == null || model.isBlank()) {
        v.add("model", "is required for an openai: endpoint (the served model name)");
      } else if (model.length() > 256 || StoredValues.hasNul(model)) {
        v.add("model", "must be at most 256 characters without NUL");
      }
      if (tokenizer != null) {
        v.add("tokenizer", "is not used with an openai: endpoint (the server tokenizes)");
      }
      v.range("concurrency", concurrency, 1, 64);
      return;
    }
    if (model != null) {
      v.add("model", "is only for openai: endpoints");
    }
    if (concurrency != null) {
      v.add("concurrency", "is only for openai: endpoints");
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
