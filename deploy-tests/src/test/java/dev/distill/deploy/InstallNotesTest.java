package dev.distill.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.InstallCommand;
import com.marcnuri.helm.Release;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code helm install --dry-run --client-only}: the whole install path, NOTES.txt included, renders
 * without a cluster, and the notes tell how to create the worker token Secret the workers wait for.
 */
class InstallNotesTest {

  private static String notes(Map<String, Object> sets) {
    InstallCommand cmd =
        new Helm(Repo.chart())
            .install()
            .withName(Rendered.RELEASE)
            .withNamespace(Rendered.NAMESPACE)
            .withKubeVersion(Rendered.KUBE_VERSION)
            .dryRun()
            .clientOnly()
            .set("service.database.url", Rendered.DB_URL);
    sets.forEach(cmd::set);
    Release release = cmd.call();
    return release.getOutput();
  }

  @Test
  void notesNameTheWorkerTokenSecretTheServiceAndTheThreads() {
    String out =
        notes(
            Map.of(
                "worker.token.existingSecret", "pool-token", "worker.resources.requests.cpu", 6));
    assertThat(out)
        .contains("kubectl -n ml create secret generic pool-token --from-literal=token=")
        .contains("http://prod-distill:8080")
        .contains("6 threads each")
        .contains("prod-distill-artifacts mounted at /var/lib/distill/data/artifacts");
  }

  @Test
  void notesFollowAutoscaling() {
    String out =
        notes(
            Map.of(
                "worker.autoscaling.enabled", true,
                "worker.autoscaling.minReplicas", 2,
                "worker.autoscaling.maxReplicas", 9));
    assertThat(out).contains("autoscaled 2..9");
  }
}
