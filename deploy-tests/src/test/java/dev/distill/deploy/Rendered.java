package dev.distill.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.TemplateCommand;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The manifests {@code helm template} renders from helm/distill with some {@code --set} values, as
 * typed fabric8 objects (kinds the chart does not type, such as ServiceMonitor, as generic
 * resources).
 */
record Rendered(List<HasMetadata> objects) {

  static final String RELEASE = "prod";
  static final String NAMESPACE = "ml";

  /** The oldest Kubernetes the chart supports (Chart.yaml kubeVersion). */
  static final String KUBE_VERSION = "1.25.0";

  /** The one value every install must give: the chart has no PostgreSQL of its own. */
  static final String DB_URL = "jdbc:postgresql://pg.db.svc:5432/distill";

  private static final ObjectMapper YAML =
      new ObjectMapper(new YAMLFactory())
          .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true);

  private static final Map<String, Class<? extends HasMetadata>> TYPED =
      Map.of(
          "ConfigMap", ConfigMap.class,
          "Deployment", Deployment.class,
          "Service", Service.class,
          "Secret", Secret.class,
          "PersistentVolumeClaim", PersistentVolumeClaim.class,
          "ServiceAccount", ServiceAccount.class,
          "HorizontalPodAutoscaler", HorizontalPodAutoscaler.class,
          "PodDisruptionBudget", PodDisruptionBudget.class);

  /** Renders with the database URL set plus {@code sets} (applied in order, as --set). */
  static Rendered render(Map<String, Object> sets) {
    Map<String, Object> all = new LinkedHashMap<>();
    all.put("service.database.url", DB_URL);
    all.putAll(sets);
    return parse(template(all));
  }

  static Rendered render() {
    return render(Map.of());
  }

  /** {@code helm template} output; throws helm's error (IllegalStateException) on bad values. */
  static String template(Map<String, Object> sets) {
    TemplateCommand cmd =
        new Helm(Repo.chart())
            .template()
            .withName(RELEASE)
            .withNamespace(NAMESPACE)
            .withKubeVersion(KUBE_VERSION);
    sets.forEach(cmd::set);
    return cmd.call();
  }

  static Rendered parse(String yaml) {
    List<HasMetadata> out = new ArrayList<>();
    try (MappingIterator<JsonNode> docs = YAML.readerFor(JsonNode.class).readValues(yaml)) {
      while (docs.hasNext()) {
        JsonNode doc = docs.next();
        if (doc == null || doc.isNull() || doc.isMissingNode() || doc.isEmpty()) {
          continue;
        }
        String kind = doc.path("kind").asText();
        assertThat(kind).as("kind of a rendered document:\n%s", doc).isNotBlank();
        Class<? extends HasMetadata> type = TYPED.get(kind);
        out.add(
            type != null
                ? YAML.treeToValue(doc, type)
                : YAML.treeToValue((ObjectNode) doc, GenericKubernetesResource.class));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("helm template output is not valid manifests:\n" + yaml, e);
    }
    return new Rendered(out);
  }

  <T extends HasMetadata> List<T> all(Class<T> type) {
    return objects.stream().filter(type::isInstance).map(type::cast).toList();
  }

  List<GenericKubernetesResource> kind(String kind) {
    return all(GenericKubernetesResource.class).stream()
        .filter(r -> kind.equals(r.getKind()))
        .toList();
  }

  /**
   * The one object of {@code type} whose app.kubernetes.io/component label is {@code component}.
   */
  <T extends HasMetadata> T one(Class<T> type, String component) {
    List<T> found =
        all(type).stream()
            .filter(
                o ->
                    o.getMetadata().getLabels() != null
                        && component.equals(
                            o.getMetadata().getLabels().get("app.kubernetes.io/component")))
            .toList();
    assertThat(found).as("%s objects of component %s", type.getSimpleName(), component).hasSize(1);
    return found.get(0);
  }

  <T extends HasMetadata> T named(Class<T> type, String name) {
    return all(type).stream()
        .filter(o -> name.equals(o.getMetadata().getName()))
        .findFirst()
        .orElseThrow(
            () ->
                new AssertionError(
                    "no " + type.getSimpleName() + " named " + name + " in " + names()));
  }

  List<String> names() {
    return objects.stream().map(o -> o.getKind() + "/" + o.getMetadata().getName()).toList();
  }
}
