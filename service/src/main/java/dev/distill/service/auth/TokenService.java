package dev.distill.service.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;

/**
 * Issues, lists and revokes tokens, and resolves a presented token to its {@link Caller}: an
 * unknown, revoked (deleted) or expired token resolves to nothing.
 */
@Service
public class TokenService {

  private static final SecureRandom RANDOM = new SecureRandom();
  private final ApiTokenRepository tokens;

  TokenService(ApiTokenRepository tokens) {
    this.tokens = tokens;
  }

  /** A new random token ({@code dst_} + 43 base64url characters, 256 bits). */
  public static String newToken() {
    byte[] b = new byte[32];
    RANDOM.nextBytes(b);
    return "dst_" + Base64.getUrlEncoder().withoutPadding().encodeToString(b);
  }

  static String hash(String token) {
    try {
      return HexFormat.of()
          .formatHex(
              MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A token as listed: never its secret or hash. */
  public record Info(
      UUID id,
      String name,
      String role,
      String project,
      Instant createdAt,
      Instant lastUsedAt,
      Instant expiresAt) {
    static Info of(ApiToken t) {
      return new Info(t.id, t.name, t.role, t.project, t.createdAt, t.lastUsedAt, t.expiresAt);
    }
  }

  /** A token just issued: the secret is shown this once. */
  public record Issued(String token, Info info) {}

  /** Creates a token that never expires and returns it; only its hash is stored. */
  @Transactional
  public String create(String name, String project, Role role) {
    return issue(name, project, role, null).token();
  }

  /**
   * Creates a token; only its hash is stored.
   *
   * @param expiresAt when it stops working; null: never
   */
  @Transactional
  public Issued issue(String name, String project, Role role, Instant expiresAt) {
    String token = newToken();
    ApiToken t =
        tokens.save(
            new ApiToken(
                name,
                project,
                role,
                hash(token),
                expiresAt == null ? null : expiresAt.truncatedTo(ChronoUnit.MICROS)));
    return new Issued(token, Info.of(t));
  }

  @Transactional(readOnly = true)
  public List<Info> list(String project) {
    return tokens.findByProjectOrderByCreatedAtAscIdAsc(project).stream().map(Info::of).toList();
  }

  /** Deletes a token of the project; false when there is none with that id there. */
  @Transactional
  public boolean revoke(String project, UUID id) {
    Optional<ApiToken> t = tokens.findByIdAndProject(id, project);
    t.ifPresent(tokens::delete);
    return t.isPresent();
  }

  /** Stores a given token under a name, replacing an earlier token of that name and project. */
  @Transactional
  public void put(String name, String project, Role role, String token) {
    tokens.deleteByNameAndProject(name, project);
    tokens.flush();
    tokens.findByTokenHash(hash(token)).ifPresent(tokens::delete);
    tokens.flush();
    tokens.save(new ApiToken(name, project, role, hash(token), null));
  }

  /** The caller of a valid token; records its use (at most once a minute). */
  @Transactional
  public Optional<Caller> resolve(String token) {
    Instant now = Instant.now();
    Optional<ApiToken> t = tokens.findByTokenHash(hash(token)).filter(x -> !x.expiredAt(now));
    t.ifPresent(
        x -> {
          if (x.lastUsedAt == null || x.lastUsedAt.isBefore(now.minus(LAST_USED_RESOLUTION))) {
            tokens.touch(x.id, now, now.minus(LAST_USED_RESOLUTION));
          }
        });
    return t.map(x -> new Caller(x.project, Role.parse(x.role), x.name));
  }

  private static final Duration LAST_USED_RESOLUTION = Duration.ofMinutes(1);
}
