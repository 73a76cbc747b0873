package dev.distill.service.config;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.ApplicationArguments;
import org.springframework.boot.ApplicationRunner;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;

/**
 * At start, after the migrations: with {@code distill.reader.password} set, the read-only role
 * {@code distill_reader} (migration V5, made without login) gets LOGIN and that password, so that
 * dashboards and KEDA connect with a secret that lives in configuration only. Every start sets it
 * again, so changing the setting rotates the password. A database user that may not alter the role
 * stops the start with the database's reason: a configured password that silently did nothing would
 * be worse.
 */
@Component
class ReaderRole implements ApplicationRunner {

  static final String ROLE = "distill_reader";
  private static final Logger log = LoggerFactory.getLogger(ReaderRole.class);

  private final DistillProperties props;
  private final JdbcTemplate jdbc;

  ReaderRole(DistillProperties props, JdbcTemplate jdbc) {
    this.props = props;
    this.jdbc = jdbc;
  }

  @Override
  public void run(ApplicationArguments args) {
    String password = props.reader().password();
    if (password.isEmpty()) {
      return;
    }
    Boolean exists =
        jdbc.queryForObject(
            "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ?)", Boolean.class, ROLE);
    if (!Boolean.TRUE.equals(exists)) {
      throw new IllegalStateException(
          "distill.reader.password is set but the role "
              + ROLE
              + " does not exist (the database user may not create roles); create it as"
              + " docs/operations.md says");
    }
    // ALTER ROLE takes no bind parameters: PostgreSQL's format() quotes the password literal
    String alter =
        jdbc.queryForObject(
            "SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', ?, ?)",
            String.class, ROLE, password);
    jdbc.execute(alter);
    log.info("role {} may log in with the configured distill.reader.password", ROLE);
  }
}
