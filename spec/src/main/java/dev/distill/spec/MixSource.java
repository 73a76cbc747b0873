package dev.distill.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * One source of a {@link DatasetSpec#mix()}: its data, how it is read, and its share of the
 * training sequences.
 *
 * @param uri a {@code file:} path or {@code job:<uuid>} (as {@link DatasetSpec#uri()}); {@code
 *     builtin:procedural} too
 * @param format {@link Catalog#FORMATS}: {@code text} (raw or instruction-augmented text, loss on
 *     every token), {@code alpaca} or {@code chat} (instruction data, loss on the responses when
 *     {@code mask_prompt}); default {@code alpaca}
 * @param weight the source's share of the training sequences, relative to the others' (above 0)
 * @param name names the source's metric {@code tokens_<name>}; default its index in the list
 */
public record MixSource(
    @JsonProperty("uri") String uri,
    @JsonProperty("format") String format,
    @JsonProperty("weight") Double weight,
    @JsonProperty("name") @JsonInclude(JsonInclude.Include.NON_NULL) String name) {

  static final Pattern NAME = Pattern.compile("[a-z0-9_]{1,40}");

  public MixSource {
    format = format == null ? "alpaca" : format.toLowerCase(Locale.ROOT);
  }

  void check(Violations v) {
    Refs.check(v, "uri", uri);
    if (uri != null && Endpoints.isEndpoint(uri)) {
      v.add("uri", "an openai: endpoint is a model, not a dataset");
    }
    Refs.checkBuiltin(v, "uri", uri, "dataset", Catalog.DATASETS);
    if (!Catalog.FORMATS.contains(format)) {
      v.add("format", Catalog.oneOf(Catalog.FORMATS, format));
    }
    if (weight == null) {
      v.add("weight", "is required");
    } else if (!(weight > 0) || weight.isInfinite()) {
      v.add("weight", "must be above 0 and finite, was " + weight);
    }
    if (name != null && !NAME.matcher(name).matches()) {
      v.add("name", "must match " + NAME.pattern() + ", was '" + name + "'");
    }
  }
}
