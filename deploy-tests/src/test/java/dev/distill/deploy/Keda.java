package dev.distill.deploy;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.type.LogicalType;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscalerBehavior;
import java.util.List;
import java.util.Map;

/**
 * KEDA's ScaledObject and TriggerAuthentication (keda.sh/v1alpha1) spec fields, transcribed from
 * KEDA 2.x's CRDs (fabric8 has no model for them), read strictly: a key the CRD does not have, or a
 * number where the CRD wants a string (trigger metadata), fails the parse. Not checked against a
 * live KEDA here.
 */
final class Keda {

  private Keda() {}

  private static final ObjectMapper STRICT = strict();

  private static ObjectMapper strict() {
    ObjectMapper m =
        new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true);
    m.coercionConfigFor(LogicalType.Textual)
        .setCoercion(CoercionInputShape.Integer, CoercionAction.Fail)
        .setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
        .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail);
    return m;
  }

  record ScaledObjectSpec(
      ScaleTargetRef scaleTargetRef,
      Integer pollingInterval,
      Integer cooldownPeriod,
      Integer idleReplicaCount,
      Integer minReplicaCount,
      Integer maxReplicaCount,
      Advanced advanced,
      JsonNode fallback,
      List<Trigger> triggers) {}

  record ScaleTargetRef(
      String apiVersion, String kind, String name, String envSourceContainerName) {}

  record Advanced(
      HorizontalPodAutoscalerConfig horizontalPodAutoscalerConfig,
      Boolean restoreToOriginalReplicaCount,
      JsonNode scalingModifiers) {}

  record HorizontalPodAutoscalerConfig(String name, HorizontalPodAutoscalerBehavior behavior) {}

  record Trigger(
      String type,
      String name,
      String metricType,
      Boolean useCachedMetrics,
      Map<String, String> metadata,
      AuthenticationRef authenticationRef) {}

  record AuthenticationRef(String name, String kind) {}

  record TriggerAuthenticationSpec(
      List<SecretTargetRef> secretTargetRef,
      JsonNode env,
      JsonNode podIdentity,
      JsonNode hashiCorpVault,
      JsonNode azureKeyVault,
      JsonNode awsSecretManager,
      JsonNode gcpSecretManager) {}

  record SecretTargetRef(String parameter, String name, String key) {}

  /** The postgresql trigger's metadata keys (keda.sh/docs/2.x/scalers/postgresql). */
  static final List<String> POSTGRESQL_METADATA =
      List.of(
          "query",
          "targetQueryValue",
          "activationTargetQueryValue",
          "connectionFromEnv",
          "host",
          "port",
          "userName",
          "passwordFromEnv",
          "dbName",
          "sslmode",
          "metricName");

  /** The postgresql trigger's authentication parameters. */
  static final List<String> POSTGRESQL_AUTH = List.of("connection", "password");

  static <T> T spec(GenericKubernetesResource r, Class<T> type) {
    return STRICT.convertValue(r.getAdditionalProperties().get("spec"), type);
  }
}
