package dev.distill.service.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distill.service.DistillServiceApplication;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * The read-only role {@code distill_reader}: migration V5 makes it with SELECT on the job tables
 * only, and the service gives it the configured password. The PostgreSQL here checks that password
 * (its pg_hba.conf asks {@code distill_reader} for SCRAM; everyone else is trusted, as in the
 * embedded database), so a wrong one is refused.
 */
class ReaderRoleTest {

  static final String PASSWORD = "reader-secret-it's-42";

  @Test
  void theReaderLogsInWithTheConfiguredPasswordAndCanOnlyRead() throws Exception {
    Path home = Files.createTempDirectory("distill-reader");
    try (EmbeddedPostgres pg = EmbeddedPostgres.builder().start()) {
      try (Connection c = pg.getPostgresDatabase().getConnection();
          Statement s = c.createStatement()) {
        ResultSet rs = s.executeQuery("SHOW hba_file");
        rs.next();
        Files.writeString(
            Path.of(rs.getString(1)),
            "host all distill_reader 127.0.0.1/32 scram-sha-256\n"
                + "host all distill_reader ::1/128 scram-sha-256\n"
                + "host all all 127.0.0.1/32 trust\n"
                + "host all all ::1/128 trust\n"
                + "local all all trust\n");
        s.execute("SELECT pg_reload_conf()");
      }
      String url = pg.getJdbcUrl("postgres", "postgres");
      // without ?user=: pgjdbc lets the URL's user win over the one given to getConnection
      String readerUrl = "jdbc:postgresql://127.0.0.1:" + pg.getPort() + "/postgres";
      try (ConfigurableApplicationContext ctx =
          new SpringApplicationBuilder(DistillServiceApplication.class)
              .run(
                  "--spring.datasource.url=" + url,
                  "--spring.datasource.username=postgres",
                  "--distill.home=" + home,
                  "--distill.reader.password=" + PASSWORD,
                  "--server.port=0",
                  "--spring.jmx.enabled=false")) {
        try (Connection c = pg.getPostgresDatabase().getConnection();
            Statement s = c.createStatement()) {
          s.execute(
              "INSERT INTO jobs (id, project, type, status, spec, priority, max_attempts)"
                  + " VALUES (gen_random_uuid(), 'p', 'finetune', 'QUEUED', '{}', 0, 1)");
          ResultSet rs =
              s.executeQuery(
                  "SELECT table_name || ':' || privilege_type FROM information_schema.role_table_grants"
                      + " WHERE grantee = 'distill_reader' ORDER BY 1");
          List<String> grants = new ArrayList<>();
          while (rs.next()) {
            grants.add(rs.getString(1));
          }
          assertThat(grants)
              .containsExactly("job_dependencies:SELECT", "job_metrics:SELECT", "jobs:SELECT");
        }

        assertThatThrownBy(() -> DriverManager.getConnection(readerUrl, "distill_reader", "wrong"))
            .isInstanceOf(SQLException.class)
            .hasFieldOrPropertyWithValue("SQLState", "28P01");
        try (Connection r = DriverManager.getConnection(readerUrl, "distill_reader", PASSWORD);
            Statement s = r.createStatement()) {
          ResultSet rs = s.executeQuery("SELECT count(*) FROM jobs");
          rs.next();
          assertThat(rs.getInt(1)).isEqualTo(1);
          s.executeQuery("SELECT count(*) FROM job_metrics").close();
          for (String write :
              List.of(
                  "UPDATE jobs SET priority = 1",
                  "DELETE FROM jobs",
                  "INSERT INTO job_metrics (job_id, name, step, value, ts)"
                      + " SELECT id, 'x', 1, 0, now() FROM jobs",
                  "SELECT count(*) FROM api_tokens",
                  "SELECT count(*) FROM workers",
                  "CREATE TABLE mine (x int)")) {
            assertThatThrownBy(() -> s.execute(write))
                .as(write)
                .isInstanceOf(SQLException.class)
                .hasFieldOrPropertyWithValue("SQLState", "42501");
          }
        }
      }
    }
  }

  @Test
  void aShortPasswordIsRefusedNamingTheSetting() {
    assertThatThrownBy(() -> new DistillProperties.Reader("short"))
        .hasMessageContaining("DISTILL_DB_READER_PASSWORD");
    assertThat(new DistillProperties.Reader("long-enough-secret").toString())
        .doesNotContain("long-enough");
  }
}
