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
 * @param maxBodyBytes requests with larger bodies get 413
 * @param storage which {@code file:} roots specs may reference, and the artifact store they may not
 */
@ConfigurationProperties("distill")
public record DistillProperties(
    Path home,
    String adminToken,
    Duration leaseTtl,
    Duration reaperInterval,
    Duration claimPollInterval,
    Duration maxClaimWait,
    long maxBodyBytes,
    Storage storage) {

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
    if (maxBodyBytes <= 0) {
      throw new IllegalArgumentException(
          "distill.max-body-bytes must be positive, was " + maxBodyBytes);
    }
    storage = storage == null ? new Storage(List.of(), null) : storage;
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
   * @param allowedRoots absolute directories under which {@code file:} references must lie
   * @param artifactRoot the workers' artifact store; {@code file:} references into it are refused
   *     (a job's output is read through {@code job:<id>} of the same project); null: none
   */
  public record Storage(List<Path> allowedRoots, Path artifactRoot) {
    public Storage {
      allowedRoots =
          allowedRoots == null
              ? List.of()
              : allowedRoots.stream().map(p -> p.toAbsolutePath().normalize()).toList();
      artifactRoot = artifactRoot == null ? null : artifactRoot.toAbsolutePath().normalize();
    }
  }
}
