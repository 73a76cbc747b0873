package dev.distill.service.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.DistillServiceApplication;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * The embedded default: with no database URL the service runs its own PostgreSQL under {@code
 * distill.home}, generates an admin token into {@code admin-token} (mode 600), and a second start
 * reuses both the data and the token.
 */
class EmbeddedRestartTest {

  private static ConfigurableApplicationContext start(Path home) {
    // Command-line arguments: they win over application.properties and the environment.
    return new SpringApplicationBuilder(DistillServiceApplication.class)
        .run(
            "--distill.home=" + home,
            "--distill.admin-token=",
            "--spring.datasource.url=",
            "--server.port=0",
            "--spring.jmx.enabled=false");
  }

  private static HttpResponse<String> send(
      ConfigurableApplicationContext ctx, String method, String path, String token, String body)
      throws Exception {
    int port = ((WebServerApplicationContext) ctx).getWebServer().getPort();
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
            .header("Authorization", "Bearer " + token)
            .header("Content-Type", "application/json")
            .method(
                method,
                body == null
                    ? HttpRequest.BodyPublishers.noBody()
                    : HttpRequest.BodyPublishers.ofString(body));
    return HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void secondStartKeepsJobsAndTheGeneratedToken() throws Exception {
    Path home = Files.createTempDirectory("distill-restart");
    String token;
    String location;
    try (ConfigurableApplicationContext first = start(home)) {
      Path tokenFile = home.resolve("admin-token");
      assertThat(tokenFile).exists();
      assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(tokenFile)))
          .isEqualTo("rw-------");
      token = Files.readString(tokenFile).trim();
      HttpResponse<String> created =
          send(
              first,
              "POST",
              "/v1/jobs",
              token,
              "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"builtin:procedural\"}}");
      assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
      location = created.headers().firstValue("Location").orElseThrow();
    }
    assertThat(home.resolve("pg/PG_VERSION")).exists();
    try (ConfigurableApplicationContext second = start(home)) {
      assertThat(Files.readString(home.resolve("admin-token")).trim()).isEqualTo(token);
      HttpResponse<String> again = send(second, "GET", location, token, null);
      assertThat(again.statusCode()).as(again.body()).isEqualTo(200);
      assertThat(again.body()).contains("\"status\":\"QUEUED\"");
    }
    try (var files = Files.walk(home)) {
      files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
    }
  }
}
