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
 * The read-only role {@code distill_reader}: migration V5 makes it, V9 lets it read every table but
 * {@link #NOT_READABLE}, never write, and the service gives it the configured password. The
 * PostgreSQL here checks that password (its pg_hba.conf asks {@code distill_reader} for SCRAM;
 * everyone else is trusted, as in the embedded database), so a wrong one is refused.
 */
class ReaderRoleTest {

  static final String PASSWORD = "reader-secret-it's-42";

  /**
   * The only tables the read-only role may not read (migration V9 says why): {@code api_tokens}
   * holds token hashes, names and roles, which a leaked dashboard password must not give away;
   * {@code flyway_schema_history} is Flyway's bookkeeping, not job data. Every other table of the
   * schema must be readable, so a new table without a grant fails this test.
   */
  static final List<String> NOT_READABLE = List.of("api_tokens", "flyway_schema_history");

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
      List<String> tables = new ArrayList<>();
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
                  "SELECT DISTINCT privilege_type FROM information_schema.role_table_grants"
                      + " WHERE grantee = 'distill_reader'");
          List<String> privileges = new ArrayList<>();
          while (rs.next()) {
            privileges.add(rs.getString(1));
          }
          assertThat(privileges).containsExactly("SELECT");
          rs =
              s.executeQuery(
                  "SELECT table_name FROM information_schema.tables"
                      + " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
                      + " ORDER BY 1");
          while (rs.next()) {
            tables.add(rs.getString(1));
          }
        }
        assertThat(tables).as("the schema's tables").contains("jobs", "job_tasks", "job_fit");
        assertThat(tables).containsAll(NOT_READABLE);

        assertThatThrownBy(() -> DriverManager.getConnection(readerUrl, "distill_reader", "wrong"))
            .isInstanceOf(SQLException.class)
            .hasFieldOrPropertyWithValue("SQLState", "28P01");
        try (Connection r = DriverManager.getConnection(readerUrl, "distill_reader", PASSWORD);
            Statement s = r.createStatement()) {
          ResultSet rs = s.executeQuery("SELECT count(*) FROM jobs");
          rs.next();
          assertThat(rs.getInt(1)).isEqualTo(1);
          s.executeQuery("SELECT count(*) FROM job_metrics").close();
          for (String table : tables) {
            if (!NOT_READABLE.contains(table)) {
              // a table added without a GRANT to distill_reader fails here: grant it in its
              // migration, or name it in NOT_READABLE with the reason
              s.executeQuery("SELECT * FROM " + table + " LIMIT 1").close();
            }
          }
          for (String table : NOT_READABLE) {
            assertThatThrownBy(() -> s.executeQuery("SELECT * FROM " + table + " LIMIT 1"))
                .as(table)
                .isInstanceOf(SQLException.class)
                .hasFieldOrPropertyWithValue("SQLState", "42501");
          }
          for (String write :
              List.of(
                  "UPDATE jobs SET priority = 1",
                  "DELETE FROM jobs",
                  "INSERT INTO job_metrics (job_id, name, step, value, ts)"
                      + " SELECT id, 'x', 1, 0, now() FROM jobs",
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
