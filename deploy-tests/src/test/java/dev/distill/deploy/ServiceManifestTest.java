package dev.distill.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The service Deployment, its Secret and Service, and what both Deployments share. */
class ServiceManifestTest {

  static Container service(Deployment d) {
    List<Container> cs = d.getSpec().getTemplate().getSpec().getContainers();
    assertThat(cs).extracting(Container::getName).containsExactly("service");
    return cs.get(0);
  }

  /** The container port a probe's named port refers to. */
  static int probePort(Container c, Probe p) {
    String name = p.getHttpGet().getPort().getStrVal();
    return c.getPorts().stream()
        .filter(cp -> cp.getName().equals(name))
        .map(ContainerPort::getContainerPort)
        .findFirst()
        .orElseThrow(() -> new AssertionError("probe port " + name + " is not a container port"));
  }

  @Test
  void probesHitActuatorHealthGroupsOnTheServicePort() {
    Container c =
        service(Rendered.render(Map.of("service.port", 9090)).one(Deployment.class, "service"));
    assertThat(c.getReadinessProbe().getHttpGet().getPath())
        .isEqualTo("/actuator/health/readiness");
    assertThat(c.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/actuator/health/liveness");
    assertThat(c.getStartupProbe().getHttpGet().getPath()).isEqualTo("/actuator/health/liveness");
    for (Probe p : List.of(c.getReadinessProbe(), c.getLivenessProbe(), c.getStartupProbe())) {
      assertThat(probePort(c, p)).isEqualTo(9090);
    }
    assertThat(WorkerManifestTest.env(c, "DISTILL_PORT").getValue()).isEqualTo("9090");
    assertThat(c.getResources().getRequests()).containsKeys("cpu", "memory");
    assertThat(c.getResources().getLimits()).containsKey("memory");
  }

  @Test
  void inThePodTheServiceAndWorkerMetricsBindEveryInterface() {
    // the jar's own default is 127.0.0.1; a pod must be reachable through its Service
    Rendered r = Rendered.render(Map.of("worker.storageRoot", "/srv/artifacts"));
    Container s = service(r.one(Deployment.class, "service"));
    assertThat(WorkerManifestTest.env(s, "DISTILL_ADDRESS").getValue()).isEqualTo("0.0.0.0");
    Container w = WorkerManifestTest.worker(r.one(Deployment.class, "worker"));
    assertThat(WorkerManifestTest.arg(w, "--metrics-address")).isEqualTo("0.0.0.0");
    // the service refuses file: references into the workers' artifact store
    assertThat(WorkerManifestTest.env(s, "DISTILL_STORAGE_ROOT").getValue())
        .isEqualTo(WorkerManifestTest.arg(w, "--storage-root"))
        .isEqualTo("/srv/artifacts");
  }

  @Test
  void databaseConnectionComesFromTheChartsSecretMadeFromValues() {
    Rendered r = Rendered.render(Map.of("service.database.password", "s3cret"));
    Container c = service(r.one(Deployment.class, "service"));
    EnvVar url = WorkerManifestTest.env(c, "DISTILL_DB_URL");
    EnvVar pw = WorkerManifestTest.env(c, "DISTILL_DB_PASSWORD");
    Secret secret = r.named(Secret.class, url.getValueFrom().getSecretKeyRef().getName());
    assertThat(secret.getStringData())
        .containsEntry(url.getValueFrom().getSecretKeyRef().getKey(), Rendered.DB_URL)
        .containsEntry(pw.getValueFrom().getSecretKeyRef().getKey(), "s3cret");
    assertThat(pw.getValueFrom().getSecretKeyRef().getName())
        .isEqualTo(secret.getMetadata().getName());
    assertThat(WorkerManifestTest.env(c, "DISTILL_DB_USER").getValueFrom().getSecretKeyRef())
        .isNotNull();
  }

  @Test
  void anExistingDatabaseSecretIsReferencedAndNoSecretIsMade() {
    Rendered r =
        Rendered.parse(
            Rendered.template(
                Map.of(
                    "service.database.existingSecret", "pg-conn",
                    "service.database.passwordKey", "pw")));
    assertThat(r.all(Secret.class)).isEmpty();
    Container c = service(r.one(Deployment.class, "service"));
    for (String name : List.of("DISTILL_DB_URL", "DISTILL_DB_USER", "DISTILL_DB_PASSWORD")) {
      assertThat(WorkerManifestTest.env(c, name).getValueFrom().getSecretKeyRef().getName())
          .isEqualTo("pg-conn");
    }
    assertThat(
            WorkerManifestTest.env(c, "DISTILL_DB_PASSWORD")
                .getValueFrom()
                .getSecretKeyRef()
                .getKey())
        .isEqualTo("pw");
  }

  @Test
  void adminTokenOnlyFromASecret() {
    Container without = service(Rendered.render().one(Deployment.class, "service"));
    assertThat(without.getEnv()).extracting(EnvVar::getName).doesNotContain("DISTILL_ADMIN_TOKEN");
    Container with =
        service(
            Rendered.render(Map.of("service.adminToken.existingSecret", "distill-admin"))
                .one(Deployment.class, "service"));
    EnvVar t = WorkerManifestTest.env(with, "DISTILL_ADMIN_TOKEN");
    assertThat(t.getValue()).isNull();
    assertThat(t.getValueFrom().getSecretKeyRef().getName()).isEqualTo("distill-admin");
  }

  @Test
  void bothDeploymentsRunAsNonRootWithAReadOnlyRootAndAWritableTmp() {
    Rendered r = Rendered.render();
    for (String component : List.of("service", "worker")) {
      PodSpec pod = r.one(Deployment.class, component).getSpec().getTemplate().getSpec();
      assertThat(pod.getSecurityContext().getRunAsNonRoot()).as(component).isTrue();
      assertThat(pod.getSecurityContext().getRunAsUser()).as(component).isPositive();
      Container c = pod.getContainers().get(0);
      assertThat(c.getSecurityContext().getAllowPrivilegeEscalation()).as(component).isFalse();
      assertThat(c.getSecurityContext().getReadOnlyRootFilesystem()).as(component).isTrue();
      assertThat(c.getSecurityContext().getCapabilities().getDrop()).as(component).contains("ALL");
      assertThat(c.getVolumeMounts())
          .as(component)
          .anySatisfy(m -> assertThat(m.getMountPath()).isEqualTo("/tmp"));
      assertThat(pod.getAutomountServiceAccountToken()).as(component).isFalse();
    }
  }

  @Test
  void serviceMonitorsOnlyWhenEnabledAndTheirPortsExistOnTheSelectedServices() {
    assertThat(Rendered.render().kind("ServiceMonitor")).isEmpty();
    Rendered r =
        Rendered.render(
            Map.of(
                "metrics.serviceMonitor.enabled",
                true,
                "metrics.serviceMonitor.labels.release",
                "kube-prometheus"));
    List<GenericKubernetesResource> monitors = r.kind("ServiceMonitor");
    assertThat(monitors).hasSize(2);
    for (GenericKubernetesResource m : monitors) {
      assertThat(m.getMetadata().getLabels()).containsEntry("release", "kube-prometheus");
      Map<String, String> match = m.get("spec", "selector", "matchLabels");
      assertThat(match).as("selector of %s", m.getMetadata().getName()).isNotEmpty();
      List<Service> selected =
          r.all(Service.class).stream()
              .filter(s -> s.getMetadata().getLabels().entrySet().containsAll(match.entrySet()))
              .toList();
      assertThat(selected).as("services selected by %s", m.getMetadata().getName()).isNotEmpty();
      List<Map<String, Object>> endpoints = m.get("spec", "endpoints");
      for (Map<String, Object> e : endpoints) {
        for (Service s : selected) {
          assertThat(s.getSpec().getPorts())
              .as("port %s on %s", e.get("port"), s.getMetadata().getName())
              .anySatisfy(p -> assertThat(p.getName()).isEqualTo(e.get("port")));
        }
      }
    }
    assertThat(monitors)
        .extracting(m -> m.<List<Map<String, Object>>>get("spec", "endpoints").get(0).get("path"))
        .containsExactlyInAnyOrder("/actuator/prometheus", "/metrics");
  }
}
