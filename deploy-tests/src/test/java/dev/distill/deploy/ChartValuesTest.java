package dev.distill.deploy;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Bad values fail {@code helm template} (hence install) with a message naming the value:
 * values.schema.json for types, ranges and unknown keys, the chart's own checks for rules across
 * values.
 */
class ChartValuesTest {

  private static Map<String, Object> withDb(String key, Object value) {
    Map<String, Object> sets = new LinkedHashMap<>();
    sets.put("service.database.url", Rendered.DB_URL);
    sets.put(key, value);
    return sets;
  }

  @ParameterizedTest(name = "{0}={1}")
  @CsvSource({
    "worker.replicas, two, '/worker/replicas'",
    "service.replicas, many, '/service/replicas'",
    "worker.image.repository, '', '/worker/image/repository'",
    "service.image.repository, '', '/service/image/repository'",
    "worker.replica, 3, 'additional properties ''replica'' not allowed'",
    "worker.metricsPort, 70000, '/worker/metricsPort'",
    "worker.device, tpu, '/worker/device'",
    "worker.resources.requests.cpu, 500m, '/worker/resources/requests/cpu'",
    "worker.resources.requests.cpu, 1.5, '/worker/resources/requests/cpu'",
    "worker.token.existingSecret, '', '/worker/token/existingSecret'",
    "worker.storageRoot, relative/dir, '/worker/storageRoot'",
    "worker.artifacts.accessModes[0], ReadWriteSometimes, '/worker/artifacts/accessModes/0'",
    "service.leaseTtl, sixty, '/service/leaseTtl'",
    "service.database.url, postgres://x/y, '/service/database/url'",
    "podSecurityContext.runAsNonRoot, false, '/podSecurityContext/runAsNonRoot'",
    "worker.keda.minReplicas, -1, '/worker/keda/minReplicas'",
    "worker.keda.targetQueryValue, many, '/worker/keda/targetQueryValue'",
    "worker.keda.connection.existingSecret, '', '/worker/keda/connection/existingSecret'",
    "worker.keda.quey, x, 'additional properties ''quey'' not allowed'",
    "metrics.prometheusRule.enabled, maybe, '/metrics/prometheusRule/enabled'",
  })
  void schemaRejectsWithAMessageNamingTheValue(String key, String value, String named) {
    assertThatThrownBy(() -> Rendered.template(withDb(key, value))).hasMessageContaining(named);
  }

  @Test
  void theDatabaseIsRequired() {
    assertThatThrownBy(() -> Rendered.template(Map.of()))
        .hasMessageContaining(
            "service.database.url or service.database.existingSecret is required");
  }

  @Test
  void aGracePeriodShorterThanTheCheckpointTimeIsRejected() {
    Map<String, Object> sets = withDb("worker.checkpointSeconds", 300);
    sets.put("worker.terminationGracePeriodSeconds", 200);
    assertThatThrownBy(() -> Rendered.template(sets))
        .hasMessageContaining(
            "worker.terminationGracePeriodSeconds (200) must be at least worker.checkpointSeconds (300)");
  }

  @Test
  void aFractionalMemoryLimitNeedsAnExplicitOffer() {
    assertThatThrownBy(() -> Rendered.template(withDb("worker.resources.limits.memory", "1.5Gi")))
        .hasMessageContaining("worker.resources.limits.memory \"1.5Gi\"");
  }

  @Test
  void autoscalingBoundsMustBeOrdered() {
    Map<String, Object> sets = withDb("worker.autoscaling.enabled", true);
    sets.put("worker.autoscaling.minReplicas", 5);
    sets.put("worker.autoscaling.maxReplicas", 2);
    assertThatThrownBy(() -> Rendered.template(sets))
        .hasMessageContaining(
            "worker.autoscaling.minReplicas (5) must not exceed worker.autoscaling.maxReplicas (2)");
  }
}
