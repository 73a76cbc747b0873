package dev.distill.service.config;

import com.zaxxer.hikari.HikariDataSource;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.autoconfigure.condition.ConditionalOnExpression;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * With no {@code spring.datasource.url} (no {@code DISTILL_DB_URL}), a real PostgreSQL 16 runs from
 * the jar with its data under {@code ${distill.home}/pg}, kept across restarts.
 */
@Configuration(proxyBeanMethods = false)
@ConditionalOnExpression("'${spring.datasource.url:}'.isEmpty()")
class EmbeddedPostgresConfig {

  private static final Logger log = LoggerFactory.getLogger(EmbeddedPostgresConfig.class);

  @Bean(destroyMethod = "close")
  EmbeddedPostgres embeddedPostgres(DistillProperties props) throws IOException {
    Path dir = props.home().resolve("pg").toAbsolutePath();
    Files.createDirectories(dir);
    boolean existing = Files.exists(dir.resolve("PG_VERSION"));
    log.info(
        "no database URL configured: {} embedded PostgreSQL in {}",
        existing ? "reusing" : "initialising",
        dir);
    return EmbeddedPostgres.builder().setDataDirectory(dir).setCleanDataDirectory(false).start();
  }

  @Bean
  DataSource dataSource(EmbeddedPostgres pg) {
    HikariDataSource ds = new HikariDataSource();
    ds.setJdbcUrl(pg.getJdbcUrl("postgres", "postgres"));
    ds.setUsername("postgres");
    ds.setMaximumPoolSize(20);
    ds.setPoolName("distill-embedded");
    return ds;
  }
}
