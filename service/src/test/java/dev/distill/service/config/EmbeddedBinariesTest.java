package dev.distill.service.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/**
 * The PostgreSQL binaries the embedded database runs from survive zonky's start (what {@code
 * ExternalDatabaseTest} and any tool on zonky do): zonky deletes every directory of {@code
 * embedded-pg} holding an unlocked {@code epg-lock} older than 10 minutes as a stale data
 * directory, and a lock file left beside the binaries once made it delete them (seen on a machine
 * that ran the suite twice).
 */
class EmbeddedBinariesTest {

  @Test
  void zonkysStartLeavesTheBinariesInPlace() throws Exception {
    Path dir = EmbeddedPostgres.binaries();
    assertThat(dir.resolve("bin/initdb")).isExecutable();
    assertThat(dir.resolve(EmbeddedPostgres.UNPACK_LOCK)).as("no lock file left").doesNotExist();

    // a lock file an earlier version left, 11 minutes old: removed by the next call
    Path stale = Files.createFile(dir.resolve(EmbeddedPostgres.UNPACK_LOCK));
    Files.setLastModifiedTime(stale, FileTime.from(Instant.now().minus(Duration.ofMinutes(11))));
    assertThat(EmbeddedPostgres.binaries()).isEqualTo(dir);
    assertThat(stale).doesNotExist();

    try (io.zonky.test.db.postgres.embedded.EmbeddedPostgres zonky =
        io.zonky.test.db.postgres.embedded.EmbeddedPostgres.builder().start()) {
      assertThat(zonky.getPort()).isPositive();
    }
    assertThat(dir.resolve("bin/initdb")).as("after zonky's start").isExecutable();
    assertThat(dir.resolve(".exists")).exists();
  }
}
