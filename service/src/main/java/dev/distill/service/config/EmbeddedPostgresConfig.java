package dev.distill.service.config;

import com.zaxxer.hikari.HikariDataSource;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.autoconfigure.condition.ConditionalOnExpression;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * With no {@code spring.datasource.url} (no {@code DISTILL_DB_URL}), a real PostgreSQL 16 runs from
 * the jar with its data under {@code ${distill.home}/pg}, kept across restarts: durable unless
 * {@code distill.embedded.durable=false}, restarted by a watchdog if it dies, and stopped when the
 * context closes, after the web server has drained (a bean destroyed after every lifecycle stop).
 */
@Configuration(proxyBeanMethods = false)
@ConditionalOnExpression("'${spring.datasource.url:}'.isEmpty()")
class EmbeddedPostgresConfig {

  private static final Logger log = LoggerFactory.getLogger(EmbeddedPostgresConfig.class);

  @Bean(destroyMethod = "close")
  EmbeddedPostgres embeddedPostgres(DistillProperties props) throws IOException {
    Path dir = props.home().resolve("pg").toAbsolutePath();
    log.info(
        "no database URL configured: {} embedded PostgreSQL in {}",
        Files.exists(dir.resolve("PG_VERSION")) ? "reusing" : "initialising",
        dir);
    EmbeddedPostgres pg = EmbeddedPostgres.start(dir, props.embedded().durable());
    pg.watch(props.embedded().watchdogInterval());
    return pg;
  }

  /** Hikari, configured by {@code spring.datasource.hikari.*} like an external database's pool. */
  @Bean
  @ConfigurationProperties("spring.datasource.hikari")
  HikariDataSource dataSource(EmbeddedPostgres pg) {
    HikariDataSource ds = new HikariDataSource();
    ds.setJdbcUrl(pg.jdbcUrl());
    ds.setUsername("postgres");
    ds.setPoolName("distill-embedded");
    return ds;
  }
}
