package dev.distill.service.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.DistillServiceApplication;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * With a database URL the service uses that PostgreSQL (here a separate server it did not start),
 * starts no embedded one, and takes its admin token from {@code distill.admin-token}.
 */
class ExternalDatabaseTest {

  @Test
  void givenAUrlTheServiceUsesThatDatabase() throws Exception {
    Path home = Files.createTempDirectory("distill-external");
    try (EmbeddedPostgres external = EmbeddedPostgres.builder().start();
        ConfigurableApplicationContext ctx =
            new SpringApplicationBuilder(DistillServiceApplication.class)
                .run(
                    "--spring.datasource.url=" + external.getJdbcUrl("postgres", "postgres"),
                    "--spring.datasource.username=postgres",
                    "--distill.home=" + home,
                    "--distill.admin-token=external-admin-token-42",
                    "--server.port=0",
                    "--spring.jmx.enabled=false")) {
      assertThat(ctx.getBeanNamesForType(dev.distill.service.config.EmbeddedPostgres.class))
          .isEmpty();
      assertThat(home.resolve("pg")).doesNotExist();
      assertThat(home.resolve("admin-token")).doesNotExist();
      int port = ((WebServerApplicationContext) ctx).getWebServer().getPort();
      HttpResponse<String> r =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/v1/jobs"))
                      .header("Authorization", "Bearer external-admin-token-42")
                      .header("Content-Type", "application/json")
                      .POST(
                          HttpRequest.BodyPublishers.ofString(
                              "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"builtin:procedural\"}}"))
                      .build(),
                  HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
      try (var c = external.getPostgresDatabase().getConnection();
          var rs = c.createStatement().executeQuery("SELECT count(*) FROM jobs")) {
        rs.next();
        assertThat(rs.getInt(1)).isEqualTo(1);
      }
    }
    Files.deleteIfExists(home);
  }
}
