package dev.distill.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.net.URI;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The worker Deployment as {@code helm template} renders it, read as typed Kubernetes objects. */
class WorkerManifestTest {

  static Container worker(Deployment d) {
    List<Container> cs = d.getSpec().getTemplate().getSpec().getContainers();
    assertThat(cs).extracting(Container::getName).containsExactly("worker");
    return cs.get(0);
  }

  static EnvVar env(Container c, String name) {
    return c.getEnv().stream()
        .filter(e -> name.equals(e.getName()))
        .findFirst()
        .orElseThrow(() -> new AssertionError("container " + c.getName() + " has no env " + name));
  }

  /** The value following {@code flag} in the container's args. */
  static String arg(Container c, String flag) {
    List<String> args = c.getArgs();
    int i = args.indexOf(flag);
    assertThat(i).as("%s in args %s", flag, args).isGreaterThanOrEqualTo(0);
    assertThat(i + 1).as("value of %s in args %s", flag, args).isLessThan(args.size());
    return args.get(i + 1);
  }

  @Test
  void tokenComesFromTheSecretNamedInValuesNeverFromALiteral() {
    Rendered r =
        Rendered.render(
            Map.of("worker.token.existingSecret", "pool-a-token", "worker.token.key", "tok"));
    EnvVar token = env(worker(r.one(Deployment.class, "worker")), "DISTILL_TOKEN");
    assertThat(token.getValue()).isNull();
    assertThat(token.getValueFrom().getSecretKeyRef().getName()).isEqualTo("pool-a-token");
    assertThat(token.getValueFrom().getSecretKeyRef().getKey()).isEqualTo("tok");
    assertThat(token.getValueFrom().getSecretKeyRef().getOptional()).isNotEqualTo(Boolean.TRUE);
  }

  @Test
  void distillUrlNamesTheServicesServiceAndPortThatSelectsTheServicePods() {
    Rendered r = Rendered.render(Map.of("service.port", 8181));
    URI url = URI.create(env(worker(r.one(Deployment.class, "worker")), "DISTILL_URL").getValue());
    Service svc = r.named(Service.class, url.getHost());
    assertThat(svc.getSpec().getPorts())
        .anySatisfy(p -> assertThat(p.getPort()).isEqualTo(url.getPort()));
    assertThat(url.getPort()).isEqualTo(8181);
    Deployment service = r.one(Deployment.class, "service");
    Map<String, String> podLabels = service.getSpec().getTemplate().getMetadata().getLabels();
    assertThat(podLabels).containsAllEntriesOf(svc.getSpec().getSelector());
    // and that Service does not also select the workers
    Map<String, String> workerLabels =
        r.one(Deployment.class, "worker").getSpec().getTemplate().getMetadata().getLabels();
    assertThat(workerLabels.entrySet().containsAll(svc.getSpec().getSelector().entrySet()))
        .as("the service's Service also selects the workers")
        .isFalse();
    // the service listens where its Service sends traffic
    Container c = service.getSpec().getTemplate().getSpec().getContainers().get(0);
    assertThat(env(c, "DISTILL_PORT").getValue()).isEqualTo("8181");
    assertThat(c.getPorts()).anySatisfy(p -> assertThat(p.getContainerPort()).isEqualTo(8181));
  }

  @ParameterizedTest
  @CsvSource({"120, 180", "300, 300", "600, 660"})
  void gracePeriodCoversTheCheckpointTime(int checkpoint, int grace) {
    Rendered r =
        Rendered.render(
            Map.of(
                "worker.checkpointSeconds", checkpoint,
                "worker.terminationGracePeriodSeconds", grace));
    PodSpec pod = r.one(Deployment.class, "worker").getSpec().getTemplate().getSpec();
    assertThat(pod.getTerminationGracePeriodSeconds())
        .isEqualTo(grace)
        .isGreaterThanOrEqualTo(checkpoint);
  }

  @Test
  void defaultGracePeriodCoversTheWorkersOwnTwoMinuteBound() {
    PodSpec pod =
        Rendered.render().one(Deployment.class, "worker").getSpec().getTemplate().getSpec();
    // WorkerCommand's shutdown hook waits up to 2 minutes for the checkpoint and release
    assertThat(pod.getTerminationGracePeriodSeconds()).isGreaterThanOrEqualTo(120);
  }

  @Test
  void artifactClaimIsReadWriteManyAndMountedAtTheStorageRootTheWorkerIsGiven() {
    Rendered r = Rendered.render(Map.of("worker.storageRoot", "/data/distill/store"));
    Deployment d = r.one(Deployment.class, "worker");
    Container c = worker(d);
    String root = arg(c, "--storage-root");
    assertThat(root).isEqualTo("/data/distill/store");
    VolumeMount mount =
        c.getVolumeMounts().stream()
            .filter(m -> root.equals(m.getMountPath()))
            .findFirst()
            .orElseThrow(() -> new AssertionError("nothing mounted at " + root));
    Volume vol =
        d.getSpec().getTemplate().getSpec().getVolumes().stream()
            .filter(v -> v.getName().equals(mount.getName()))
            .findFirst()
            .orElseThrow();
    String claim = vol.getPersistentVolumeClaim().getClaimName();
    PersistentVolumeClaim pvc = r.named(PersistentVolumeClaim.class, claim);
    assertThat(pvc.getSpec().getAccessModes()).containsExactly("ReadWriteMany");
    assertThat(pvc.getMetadata().getAnnotations()).containsEntry("helm.sh/resource-policy", "keep");
    assertThat(mount.getReadOnly()).isNotEqualTo(Boolean.TRUE);
  }

  @Test
  void anExistingClaimIsUsedAndNoneIsMade() {
    Rendered r = Rendered.render(Map.of("worker.artifacts.existingClaim", "shared-nfs"));
    assertThat(r.all(PersistentVolumeClaim.class)).isEmpty();
    assertThat(r.one(Deployment.class, "worker").getSpec().getTemplate().getSpec().getVolumes())
        .anySatisfy(
            v -> assertThat(v.getPersistentVolumeClaim().getClaimName()).isEqualTo("shared-nfs"));
  }

  @ParameterizedTest
  @CsvSource({"1, 1", "4, 4", "'3000m', 3", "'16', 16"})
  void threadSettingsEqualTheCpuRequest(String cpu, int threads) {
    Rendered r = Rendered.render(Map.of("worker.resources.requests.cpu", cpu));
    Container c = worker(r.one(Deployment.class, "worker"));
    Quantity request = c.getResources().getRequests().get("cpu");
    int cores = request.getNumericalAmount().intValueExact();
    assertThat(cores).isEqualTo(threads);
    assertThat(env(c, "OMP_NUM_THREADS").getValue()).isEqualTo(Integer.toString(cores));
    List<String> opts = List.of(env(c, "JAVA_OPTS").getValue().split("\\s+"));
    assertThat(opts).contains("-Dai.djl.pytorch.num_threads=" + cores, "-Dai.djl.offline=true");
    assertThat(opts.stream().filter(o -> o.startsWith("-Dai.djl.pytorch.num_threads="))).hasSize(1);
  }

  /** 16Gi = 16 * 1024 MiB; 12000M = 12e9 / 2^20 = 11444.09 MiB, rounded down. */
  @ParameterizedTest
  @CsvSource({"16Gi, 0, 16384", "12288Mi, 0, 12288", "12000M, 0, 11444", "16Gi, 9000, 9000"})
  void memoryOfferedToJobsIsTheLimitUnlessGiven(String limit, int memoryMb, String offered) {
    Rendered r =
        Rendered.render(
            Map.of("worker.resources.limits.memory", limit, "worker.memoryMb", memoryMb));
    Container c = worker(r.one(Deployment.class, "worker"));
    assertThat(arg(c, "--memory-mb")).isEqualTo(offered);
  }

  @Test
  void metricsPortIsDeclaredAnnotatedAndGivenToTheWorker() {
    Rendered r = Rendered.render(Map.of("worker.metricsPort", 9555));
    Deployment d = r.one(Deployment.class, "worker");
    Container c = worker(d);
    assertThat(arg(c, "--metrics-port")).isEqualTo("9555");
    assertThat(c.getPorts())
        .anySatisfy(
            p -> {
              assertThat(p.getName()).isEqualTo("metrics");
              assertThat(p.getContainerPort()).isEqualTo(9555);
            });
    assertThat(d.getSpec().getTemplate().getMetadata().getAnnotations())
        .containsEntry("prometheus.io/scrape", "true")
        .containsEntry("prometheus.io/port", "9555")
        .containsEntry("prometheus.io/path", "/metrics");
  }

  @Test
  void replicasAreFixedUnlessTheHpaOwnsThem() {
    Rendered fixed = Rendered.render(Map.of("worker.replicas", 5));
    assertThat(fixed.one(Deployment.class, "worker").getSpec().getReplicas()).isEqualTo(5);
    assertThat(fixed.all(HorizontalPodAutoscaler.class)).isEmpty();

    Rendered auto =
        Rendered.render(
            Map.of(
                "worker.autoscaling.enabled", true,
                "worker.autoscaling.minReplicas", 2,
                "worker.autoscaling.maxReplicas", 6));
    Deployment d = auto.one(Deployment.class, "worker");
    assertThat(d.getSpec().getReplicas()).isNull();
    HorizontalPodAutoscaler hpa = auto.one(HorizontalPodAutoscaler.class, "worker");
    assertThat(hpa.getSpec().getScaleTargetRef().getKind()).isEqualTo("Deployment");
    assertThat(hpa.getSpec().getScaleTargetRef().getName()).isEqualTo(d.getMetadata().getName());
    assertThat(hpa.getSpec().getMinReplicas()).isEqualTo(2);
    assertThat(hpa.getSpec().getMaxReplicas()).isEqualTo(6);
  }

  @Test
  void disruptionBudgetSelectsExactlyTheWorkers() {
    Rendered r = Rendered.render();
    PodDisruptionBudget pdb = r.one(PodDisruptionBudget.class, "worker");
    assertThat(pdb.getSpec().getMaxUnavailable().getIntVal()).isEqualTo(1);
    Map<String, String> selector = pdb.getSpec().getSelector().getMatchLabels();
    for (String component : List.of("service", "worker")) {
      Map<String, String> pod =
          r.one(Deployment.class, component).getSpec().getTemplate().getMetadata().getLabels();
      assertThat(pod.entrySet().containsAll(selector.entrySet()))
          .as("budget selects the %s pods", component)
          .isEqualTo(component.equals("worker"));
    }
    assertThat(
            Rendered.render(Map.of("worker.podDisruptionBudget.enabled", false))
                .all(PodDisruptionBudget.class))
        .isEmpty();
  }
}
