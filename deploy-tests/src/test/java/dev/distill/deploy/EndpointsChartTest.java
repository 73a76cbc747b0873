package dev.distill.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The chart's OpenAI-compatible endpoints: {@code endpoints.allowList} becomes the service's {@code
 * DISTILL_ENDPOINTS}; {@code endpoints.keysSecret} is mounted read-only into the workers as one key
 * file per endpoint name ({@code DISTILL_ENDPOINT_KEYS_DIR}), never as a literal value.
 */
class EndpointsChartTest {

  @Test
  void theAllowListBecomesTheServicesEndpointsSortedByName() {
    Rendered r =
        Rendered.render(
            Map.of(
                "endpoints.allowList.teacher", "http://vllm.ml.svc:8000/v1",
                "endpoints.allowList.judge", "http://ollama.ml.svc:11434/v1"));
    Container service = ServiceManifestTest.service(r.one(Deployment.class, "service"));
    assertThat(WorkerManifestTest.env(service, "DISTILL_ENDPOINTS").getValue())
        .isEqualTo("judge=http://ollama.ml.svc:11434/v1,teacher=http://vllm.ml.svc:8000/v1");
  }

  @Test
  void withoutEndpointsNothingIsSetOrMounted() {
    Rendered r = Rendered.render();
    Container service = ServiceManifestTest.service(r.one(Deployment.class, "service"));
    assertThat(service.getEnv()).noneMatch(e -> e.getName().equals("DISTILL_ENDPOINTS"));
    Container worker = WorkerManifestTest.worker(r.one(Deployment.class, "worker"));
    assertThat(worker.getEnv()).noneMatch(e -> e.getName().equals("DISTILL_ENDPOINT_KEYS_DIR"));
  }

  @Test
  void keysAreASecretMountedReadOnlyIntoTheWorkers() {
    Rendered r = Rendered.render(Map.of("endpoints.keysSecret", "llm-keys"));
    Deployment d = r.one(Deployment.class, "worker");
    PodSpec pod = d.getSpec().getTemplate().getSpec();
    Container worker = WorkerManifestTest.worker(d);
    String dir = WorkerManifestTest.env(worker, "DISTILL_ENDPOINT_KEYS_DIR").getValue();
    assertThat(worker.getVolumeMounts())
        .anySatisfy(
            m -> {
              assertThat(m.getMountPath()).isEqualTo(dir);
              assertThat(m.getReadOnly()).isTrue();
              assertThat(m.getName()).isEqualTo("endpoint-keys");
            });
    Volume v =
        pod.getVolumes().stream()
            .filter(x -> x.getName().equals("endpoint-keys"))
            .findFirst()
            .get();
    assertThat(v.getSecret().getSecretName()).isEqualTo("llm-keys");
    assertThat(v.getSecret().getDefaultMode()).isEqualTo(0400);
    // the service never sees the keys
    Container service = ServiceManifestTest.service(r.one(Deployment.class, "service"));
    assertThat(service.getVolumeMounts()).noneMatch(m -> m.getName().equals("endpoint-keys"));
  }

  @Test
  void aMalformedAllowListIsRefusedByTheSchema() {
    assertThatThrownBy(
            () -> Rendered.template(Map.of("endpoints.allowList.judge", "http://u@host:1/v1")))
        .hasMessageContaining("endpoints");
    assertThatThrownBy(
            () -> Rendered.template(Map.of("endpoints.allowList.Bad_Name", "http://host:1/v1")))
        .hasMessageContaining("Bad_Name");
  }
}
