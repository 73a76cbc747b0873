package dev.distill.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The Dockerfiles cannot be built here (no engine); they are read as text and must agree with the
 * chart's defaults: JRE 17 base, the non-root uid the pods run as, the ports and the artifact
 * directory.
 */
class DockerfileTest {

  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  private static List<String> lines(String file) throws IOException {
    return Files.readAllLines(Repo.root().resolve("docker").resolve(file)).stream()
        .map(String::strip)
        .toList();
  }

  /** Lines of the last stage (after the last FROM). */
  private static List<String> finalStage(List<String> lines) {
    int last = -1;
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).startsWith("FROM ")) {
        last = i;
      }
    }
    assertThat(last).as("a FROM line").isNotNegative();
    return lines.subList(last, lines.size());
  }

  private static String instruction(List<String> stage, String name) {
    List<String> found = stage.stream().filter(l -> l.startsWith(name + " ")).toList();
    assertThat(found).as("%s in the final stage", name).hasSize(1);
    return found.get(0).substring(name.length() + 1).strip();
  }

  private static JsonNode values() throws IOException {
    return YAML.readTree(Repo.chart().resolve("values.yaml").toFile());
  }

  @Test
  void bothImagesRunOnTemurin17JreAsTheUidThePodsUse() throws IOException {
    String uid = values().path("podSecurityContext").path("runAsUser").asText();
    for (String f : List.of("service.Dockerfile", "worker.Dockerfile")) {
      List<String> stage = finalStage(lines(f));
      assertThat(stage.get(0)).as(f).isEqualTo("FROM eclipse-temurin:17-jre");
      String user = instruction(stage, "USER");
      assertThat(user.split(":")[0]).as(f + " USER").isEqualTo(uid).isNotEqualTo("0");
    }
  }

  @Test
  void exposedPortsAreTheChartsDefaults() throws IOException {
    JsonNode v = values();
    assertThat(instruction(finalStage(lines("service.Dockerfile")), "EXPOSE"))
        .isEqualTo(v.path("service").path("port").asText());
    assertThat(instruction(finalStage(lines("worker.Dockerfile")), "EXPOSE"))
        .isEqualTo(v.path("worker").path("metricsPort").asText());
  }

  @Test
  void workerImageDefaultsToTheChartsStorageRootAndMetricsPort() throws IOException {
    JsonNode w = values().path("worker");
    List<String> stage = finalStage(lines("worker.Dockerfile"));
    String cmd = instruction(stage, "CMD");
    assertThat(cmd)
        .contains("\"--storage-root\", \"" + w.path("storageRoot").asText() + "\"")
        .contains("\"--metrics-port\", \"" + w.path("metricsPort").asText() + "\"");
    assertThat(instruction(stage, "VOLUME")).contains(w.path("storageRoot").asText());
    // the image makes the directory, owned by the non-root user, so a fresh volume inherits it
    assertThat(String.join("\n", stage))
        .contains("mkdir -p")
        .contains(w.path("storageRoot").asText());
  }

  @Test
  void entrypointsExecJavaWithJavaOptsAndTheWorkerIsOffline() throws IOException {
    Path docker = Repo.root().resolve("docker");
    String worker = Files.readString(docker.resolve("worker-entrypoint.sh"));
    assertThat(worker).contains("exec java -Dai.djl.offline=true ${JAVA_OPTS:-}");
    assertThat(worker).contains("dev.distill.app.cli.DistillCli");
    assertThat(Files.isExecutable(docker.resolve("worker-entrypoint.sh"))).isTrue();
    String service = Files.readString(docker.resolve("service-entrypoint.sh"));
    assertThat(service).contains("exec java ${JAVA_OPTS:-} -jar /opt/distill/distill-service.jar");
    assertThat(Files.isExecutable(docker.resolve("service-entrypoint.sh"))).isTrue();
    assertThat(Files.isExecutable(docker.resolve("create-worker-token.sh"))).isTrue();
  }

  @Test
  void imagesCopyTheJarsTheBuildMakes() throws IOException {
    Path root = Repo.root();
    assertThat(Files.readString(root.resolve("service/pom.xml")))
        .contains("<finalName>distill-service</finalName>");
    assertThat(Files.readString(root.resolve("app/pom.xml")))
        .contains("<finalName>distill-app</finalName>");
    assertThat(String.join("\n", lines("service.Dockerfile")))
        .contains("/src/service/target/distill-service.jar");
    assertThat(String.join("\n", lines("worker.Dockerfile")))
        .contains("/src/app/target/distill-app.jar")
        .contains("/src/app/target/lib/");
  }
}
