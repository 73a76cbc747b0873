package dev.distill.service.auth;

import dev.distill.service.config.DistillProperties;
import dev.distill.service.config.EmbeddedPostgres;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.ApplicationArguments;
import org.springframework.boot.ApplicationRunner;
import org.springframework.stereotype.Component;

/**
 * At start: {@code distill.admin-token} becomes the admin token of project {@code default}. Without
 * one, the embedded mode reuses {@code ${distill.home}/admin-token} or generates a token, writes it
 * there (mode 600) and prints it once.
 */
@Component
class AdminTokenBootstrap implements ApplicationRunner {

  static final String NAME = "bootstrap-admin";
  static final String PROJECT = "default";
  private static final Logger log = LoggerFactory.getLogger(AdminTokenBootstrap.class);

  private final DistillProperties props;
  private final TokenService tokens;
  private final ObjectProvider<EmbeddedPostgres> embedded;

  AdminTokenBootstrap(
      DistillProperties props, TokenService tokens, ObjectProvider<EmbeddedPostgres> embedded) {
    this.props = props;
    this.tokens = tokens;
    this.embedded = embedded;
  }

  @Override
  public void run(ApplicationArguments args) throws IOException {
    if (!props.adminToken().isEmpty()) {
      tokens.put(NAME, PROJECT, Role.ADMIN, props.adminToken());
      log.info("admin token of project '{}' set from DISTILL_ADMIN_TOKEN", PROJECT);
      return;
    }
    if (embedded.getIfAvailable() == null) {
      log.info("no DISTILL_ADMIN_TOKEN configured; existing tokens in the database apply");
      return;
    }
    Path file = props.home().resolve("admin-token");
    String token;
    if (Files.exists(file)) {
      token = Files.readString(file, StandardCharsets.UTF_8).trim();
      tokens.put(NAME, PROJECT, Role.ADMIN, token);
      log.info("admin token of project '{}' read from {}", PROJECT, file);
      return;
    }
    token = TokenService.newToken();
    Files.createDirectories(file.getParent());
    Files.createFile(
        file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    Files.writeString(file, token + "\n", StandardCharsets.UTF_8);
    tokens.put(NAME, PROJECT, Role.ADMIN, token);
    // Printed once, on purpose: this is how the operator learns the generated token.
    System.out.println(
        "distill: admin token (project default): " + token + "  (saved in " + file + ")");
  }
}
