package dev.distill.service.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * Every {@code distill.*} setting. Environment variables are mapped onto these in {@code
 * application.properties} only.
 *
 * @param home where the embedded database ({@code pg/}) and the admin token file live
 * @param adminToken the admin token of project {@code default}; empty means none configured
 * @param leaseTtl how long a claim or heartbeat keeps a job leased
 * @param reaperInterval how often expired leases are looked for
 * @param claimPollInterval how often a waiting claim looks again without a notification
 * @param maxClaimWait the longest a claim may wait
 * @param maxClaimWaits how many claims may wait at once; one more gets 503 with Retry-After
 * @param maxBodyBytes requests with larger bodies get 413
 * @param storage which {@code file:} roots specs may reference, and the artifact store they may not
 * @param embedded the embedded PostgreSQL (used when no database URL is configured)
 * @param eventStreams the {@code text/event-stream} follow of a job's events
 * @param reader the read-only database role of dashboards and KEDA ({@code distill_reader})
 */
@ConfigurationProperties("distill")
public record DistillProperties(
    Path home,
    String adminToken,
    Duration leaseTtl,
    Duration reaperInterval,
    Duration claimPollInterval,
    Duration maxClaimWait,
    Integer maxClaimWaits,
    long maxBodyBytes,
    Storage storage,
    Embedded embedded,
    EventStreams eventStreams,
    Reader reader) {

  public DistillProperties {
    if (home == null) {
      throw new IllegalArgumentException("distill.home is required");
    }
    adminToken = adminToken == null ? "" : adminToken.trim();
    if (!adminToken.isEmpty() && adminToken.length() < 16) {
      throw new IllegalArgumentException(
          "distill.admin-token (DISTILL_ADMIN_TOKEN) must be at least 16 characters");
    }
    leaseTtl = positive("distill.lease-ttl", leaseTtl, Duration.ofSeconds(60));
    reaperInterval = positive("distill.reaper-interval", reaperInterval, Duration.ofSeconds(5));
    claimPollInterval =
        positive("distill.claim-poll-interval", claimPollInterval, Duration.ofSeconds(5));
    maxClaimWait = positive("distill.max-claim-wait", maxClaimWait, Duration.ofSeconds(30));
    maxClaimWaits = positive("distill.max-claim-waits", maxClaimWaits, 1000);
    if (maxBodyBytes <= 0) {
      throw new IllegalArgumentException(
          "distill.max-body-bytes must be positive, was " + maxBodyBytes);
    }
    storage = storage == null ? new Storage(List.of(), null, null) : storage;
    embedded = embedded == null ? new Embedded(null, null) : embedded;
    eventStreams = eventStreams == null ? new EventStreams(null, null, null) : eventStreams;
    reader = reader == null ? new Reader(null) : reader;
  }

  private static int positive(String name, Integer n, int fallback) {
    if (n == null) {
      return fallback;
    }
    if (n <= 0) {
      throw new IllegalArgumentException(name + " must be positive, was " + n);
    }
    return n;
  }

  private static Duration positive(String name, Duration d, Duration fallback) {
    if (d == null) {
      return fallback;
    }
    if (d.isNegative() || d.isZero()) {
      throw new IllegalArgumentException(name + " must be positive, was " + d);
    }
    return d;
  }

  /**
   * @param durable fsync, synchronous commit and full-page writes on (the default): an answered
   *     write survives a crash of PostgreSQL or the machine. {@code false} is for throwaway test
   *     databases only.
   * @param watchdogInterval how often the service looks whether its PostgreSQL still runs, and
   *     starts it again if not
   */
  public record Embedded(Boolean durable, Duration watchdogInterval) {
    public Embedded {
      durable = durable == null || durable;
      watchdogInterval =
          positive("distill.embedded.watchdog-interval", watchdogInterval, Duration.ofSeconds(1));
    }
  }

  /**
   * @param max how many streams may be open at once; one more gets 503 with Retry-After
   * @param timeout a stream ends after this long (the client reconnects with {@code after})
   * @param keepalive an idle stream sends a comment this often, which also finds clients that left
   */
  public record EventStreams(Integer max, Duration timeout, Duration keepalive) {
    public EventStreams {
      max = positive("distill.event-streams.max", max, 256);
      timeout = positive("distill.event-streams.timeout", timeout, Duration.ofMinutes(30));
      keepalive = positive("distill.event-streams.keepalive", keepalive, Duration.ofSeconds(15));
    }
  }

  /**
   * @param allowedRoots absolute directories under which {@code file:} references must lie
   * @param checkFiles whether the service sees the workers' storage, so that a {@code file:}
   *     reference under an allowed root must exist and be readable at submission (default true;
   *     false where the service does not mount it, as in the Helm chart and docker-compose)
   * @param artifactRoot the workers' artifact store; {@code file:} references into it are refused
   *     (a job's output is read through {@code job:<id>} of the same project); null: none
   */
  public record Storage(List<Path> allowedRoots, Boolean checkFiles, Path artifactRoot) {
    public Storage {
      allowedRoots =
          allowedRoots == null
              ? List.of()
              : allowedRoots.stream().map(p -> p.toAbsolutePath().normalize()).toList();
      checkFiles = checkFiles == null ? Boolean.TRUE : checkFiles;
      artifactRoot = artifactRoot == null ? null : artifactRoot.toAbsolutePath().normalize();
    }
  }

  /**
   * @param password the login password the service gives the role {@code distill_reader} (made by
   *     migration V5 without login) at every start; empty: the role is left as it is
   */
  public record Reader(String password) {
    public Reader {
      password = password == null ? "" : password;
      if (!password.isEmpty() && password.length() < 12) {
        throw new IllegalArgumentException(
            "distill.reader.password (DISTILL_DB_READER_PASSWORD) must be at least 12 characters");
      }
    }

    @Override
    public String toString() {
      return "Reader[password=" + (password.isEmpty() ? "" : "****") + "]";
    }
  }
}
