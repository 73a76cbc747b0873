package dev.distill.spec;

import tools.jackson.core.StreamReadFeature;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.cfg.CoercionAction;
import tools.jackson.databind.cfg.CoercionInputShape;
import tools.jackson.databind.cfg.MapperBuilder;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.type.LogicalType;

/**
 * How the spec and protocol records are read from JSON, the same on the service and in the command
 * line: unknown fields, duplicate keys and trailing content are refused, and nothing is coerced (no
 * {@code "300"} for a number, no {@code 300.7} for an integer, no number or boolean for a string).
 */
public final class SpecJson {

  private SpecJson() {}

  /** Applies the strict reading rules to a JSON or YAML mapper builder. */
  public static <B extends MapperBuilder<?, B>> B configure(B builder) {
    builder
        .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
        .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
        .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
        .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
        .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT);
    for (LogicalType t :
        new LogicalType[] {LogicalType.Integer, LogicalType.Float, LogicalType.Boolean}) {
      builder.withCoercionConfig(
          t,
          c ->
              c.setCoercion(CoercionInputShape.String, CoercionAction.Fail)
                  .setCoercion(CoercionInputShape.EmptyString, CoercionAction.Fail));
    }
    builder.withCoercionConfig(
        LogicalType.Integer, c -> c.setCoercion(CoercionInputShape.Float, CoercionAction.Fail));
    builder.withCoercionConfig(
        LogicalType.Boolean, c -> c.setCoercion(CoercionInputShape.Integer, CoercionAction.Fail));
    builder.withCoercionConfig(
        LogicalType.Textual,
        c ->
            c.setCoercion(CoercionInputShape.Integer, CoercionAction.Fail)
                .setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
                .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail));
    return builder;
  }

  /** A JSON mapper with the strict reading rules. */
  public static JsonMapper mapper() {
    return configure(JsonMapper.builder()).build();
  }
}
