package dev.distill.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The optional KEDA ScaledObject of the worker pool, as {@code helm template} renders it, read
 * strictly against KEDA's CRD fields ({@link Keda}).
 */
class WorkerKedaTest {

  private static Map<String, Object> keda(Object... more) {
    Map<String, Object> sets = new LinkedHashMap<>();
    sets.put("worker.keda.enabled", true);
    for (int i = 0; i < more.length; i += 2) {
      sets.put((String) more[i], more[i + 1]);
    }
    return sets;
  }

  private static GenericKubernetesResource only(Rendered r, String kind) {
    List<GenericKubernetesResource> found = r.kind(kind);
    assertThat(found).as("%s in %s", kind, r.names()).hasSize(1);
    assertThat(found.get(0).getApiVersion()).isEqualTo("keda.sh/v1alpha1");
    return found.get(0);
  }

  @Test
  void offByDefault() {
    Rendered r = Rendered.render();
    assertThat(r.kind("ScaledObject")).isEmpty();
    assertThat(r.kind("TriggerAuthentication")).isEmpty();
  }

  @Test
  void scalesTheWorkerDeploymentOnThePostgresCountThroughTheReadOnlySecret() {
    Rendered r =
        Rendered.render(
            keda(
                "worker.keda.minReplicas",
                0,
                "worker.keda.maxReplicas",
                12,
                "worker.keda.connection.existingSecret",
                "distill-reader",
                "worker.keda.connection.key",
                "dsn"));
    Deployment d = r.one(Deployment.class, "worker");
    assertThat(d.getSpec().getReplicas()).as("KEDA owns the replica count").isNull();
    assertThat(r.all(HorizontalPodAutoscaler.class)).isEmpty();

    Keda.ScaledObjectSpec so = Keda.spec(only(r, "ScaledObject"), Keda.ScaledObjectSpec.class);
    assertThat(so.scaleTargetRef().kind()).isEqualTo("Deployment");
    assertThat(so.scaleTargetRef().name()).isEqualTo(d.getMetadata().getName());
    assertThat(so.minReplicaCount()).isZero();
    assertThat(so.maxReplicaCount()).isEqualTo(12);
    assertThat(
            so.advanced()
                .horizontalPodAutoscalerConfig()
                .behavior()
                .getScaleDown()
                .getPolicies()
                .get(0)
                .getValue())
        .as("one worker removed at a time")
        .isEqualTo(1);
    assertThat(so.triggers()).hasSize(1);
    Keda.Trigger t = so.triggers().get(0);
    assertThat(t.type()).isEqualTo("postgresql");
    assertThat(Keda.POSTGRESQL_METADATA).containsAll(t.metadata().keySet());
    assertThat(t.metadata()).containsEntry("targetQueryValue", "1").containsKey("query");
    assertThat(t.metadata().get("query")).startsWith("SELECT count(*) FROM jobs j");
    assertThat(t.metadata()).doesNotContainKeys("connectionFromEnv", "host", "passwordFromEnv");

    GenericKubernetesResource auth = only(r, "TriggerAuthentication");
    assertThat(t.authenticationRef().name()).isEqualTo(auth.getMetadata().getName());
    Keda.TriggerAuthenticationSpec as = Keda.spec(auth, Keda.TriggerAuthenticationSpec.class);
    assertThat(as.secretTargetRef()).hasSize(1);
    Keda.SecretTargetRef ref = as.secretTargetRef().get(0);
    assertThat(Keda.POSTGRESQL_AUTH).contains(ref.parameter());
    assertThat(ref.parameter()).isEqualTo("connection");
    assertThat(ref.name()).isEqualTo("distill-reader");
    assertThat(ref.key()).isEqualTo("dsn");
  }

  /**
   * The default query counts the jobs this pool matches, as the claim does (ClaimService.CLAIM).
   */
  @Test
  void theDefaultQueryMatchesThePoolsDeviceMemoryAndLabels() {
    Rendered r =
        Rendered.render(
            keda(
                "worker.device", "cuda",
                "worker.resources.limits.memory", "16Gi",
                "worker.labels.gpu", "a100"));
    String query =
        Keda.spec(only(r, "ScaledObject"), Keda.ScaledObjectSpec.class)
            .triggers()
            .get(0)
            .metadata()
            .get("query");
    assertThat(query)
        .contains("j.status IN ('QUEUED', 'RUNNING', 'CANCELLING')")
        .contains("j.req_device = 'cuda'")
        .contains("j.req_min_memory_mb <= 16384")
        .contains("j.req_labels <@ '{\"gpu\":\"a100\"}'::jsonb")
        .contains("p.status <> 'SUCCEEDED'")
        .doesNotContain("{{");
  }

  /**
   * The rendered default query, run as the read-only role docs/operations.md makes, on a real
   * PostgreSQL 16 with the db/ migrations: it counts exactly the jobs this pool could claim plus
   * those it runs.
   */
  @Test
  void theDefaultQueryCountsWhatThePoolCanRunOnTheRealSchema() throws Exception {
    String query =
        Keda.spec(
                only(
                    Rendered.render(
                        keda(
                            "worker.device", "cuda",
                            "worker.resources.limits.memory", "16Gi",
                            "worker.labels.gpu", "a100")),
                    "ScaledObject"),
                Keda.ScaledObjectSpec.class)
            .triggers()
            .get(0)
            .metadata()
            .get("query");
    try (EmbeddedPostgres pg = EmbeddedPostgres.builder().start();
        Connection owner = pg.getPostgresDatabase().getConnection();
        Statement st = owner.createStatement()) {
      List<Path> migrations;
      try (Stream<Path> files =
          Files.list(Repo.root().resolve("db/src/main/resources/db/migration"))) {
        migrations =
            files
                .sorted(
                    Comparator.comparingInt(
                        f ->
                            Integer.parseInt(
                                f.getFileName().toString().replaceAll("^V(\\d+)__.*", "$1"))))
                .toList();
      }
      assertThat(migrations).isNotEmpty();
      for (Path m : migrations) {
        st.execute(Files.readString(m));
      }
      // V5 creates the read-only role without login; operations.md's KEDA step gives it one
      st.execute("ALTER ROLE distill_reader LOGIN");

      UUID queuedParent = job(st, "QUEUED", null, null, "{}"); // counted
      job(st, "QUEUED", "cuda", 8000L, "{\"gpu\": \"a100\"}"); // counted
      job(st, "QUEUED", "cpu", null, "{}");
      job(st, "QUEUED", null, 32000L, "{}");
      job(st, "QUEUED", null, null, "{\"gpu\": \"h100\"}");
      job(st, "RUNNING", null, null, "{}"); // counted
      job(st, "CANCELLING", "cuda", null, "{}"); // counted
      UUID done = job(st, "SUCCEEDED", null, null, "{}");
      job(st, "FAILED", null, null, "{}");
      job(st, "CANCELLED", null, null, "{}");
      UUID waiting = job(st, "QUEUED", null, null, "{}");
      UUID ready = job(st, "QUEUED", null, null, "{}"); // counted
      st.execute(
          "INSERT INTO job_dependencies VALUES ('"
              + waiting
              + "', '"
              + queuedParent
              + "'),"
              + " ('"
              + ready
              + "', '"
              + done
              + "')");

      try (Connection reader =
              DriverManager.getConnection(
                  pg.getJdbcUrl("distill_reader", "postgres"), "distill_reader", "");
          ResultSet rs = reader.createStatement().executeQuery(query)) {
        assertThat(rs.next()).isTrue();
        assertThat(rs.getLong(1)).as(query).isEqualTo(5);
      }
    }
  }

  private static UUID job(Statement st, String status, String device, Long memoryMb, String labels)
      throws Exception {
    UUID id = UUID.randomUUID();
    st.execute(
        "INSERT INTO jobs (id, project, type, status, spec, priority, max_attempts, req_device,"
            + " req_min_memory_mb, req_labels) VALUES ('"
            + id
            + "', 'default', 'distill', '"
            + status
            + "', '{}', 0, 3, "
            + (device == null ? "NULL" : "'" + device + "'")
            + ", "
            + (memoryMb == null ? "NULL" : memoryMb)
            + ", '"
            + labels
            + "'::jsonb)");
    return id;
  }

  @Test
  void aQueryFromValuesIsUsed() {
    Rendered r =
        Rendered.render(
            keda("worker.keda.query", "SELECT count(*) FROM jobs WHERE status = 'QUEUED'"));
    assertThat(
            Keda.spec(only(r, "ScaledObject"), Keda.ScaledObjectSpec.class)
                .triggers()
                .get(0)
                .metadata())
        .containsEntry("query", "SELECT count(*) FROM jobs WHERE status = 'QUEUED'");
  }

  @Test
  void theHpaAndKedaTogetherAreRefused() {
    Map<String, Object> sets = keda("worker.autoscaling.enabled", true);
    sets.put("service.database.url", Rendered.DB_URL);
    assertThatThrownBy(() -> Rendered.template(sets))
        .hasMessageContaining(
            "worker.autoscaling.enabled and worker.keda.enabled are both true: pick one autoscaler");
  }

  @Test
  void replicaBoundsMustBeOrdered() {
    Map<String, Object> sets = keda("worker.keda.minReplicas", 5, "worker.keda.maxReplicas", 2);
    sets.put("service.database.url", Rendered.DB_URL);
    assertThatThrownBy(() -> Rendered.template(sets))
        .hasMessageContaining(
            "worker.keda.minReplicas (5) must not exceed worker.keda.maxReplicas (2)");
  }
}
