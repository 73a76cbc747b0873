package dev.distill.service.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Optional;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;

/** Issues tokens and resolves a presented token to its {@link Caller}. */
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

  /** Creates a token and returns it; only its hash is stored. */
  @Transactional
  public String create(String name, String project, Role role) {
    String token = newToken();
    tokens.save(new ApiToken(name, project, role, hash(token)));
    return token;
  }

  /** Stores a given token under a name, replacing an earlier token of that name and project. */
  @Transactional
  public void put(String name, String project, Role role, String token) {
    tokens.deleteByNameAndProject(name, project);
    tokens.flush();
    tokens.findByTokenHash(hash(token)).ifPresent(tokens::delete);
    tokens.flush();
    tokens.save(new ApiToken(name, project, role, hash(token)));
  }

  @Transactional(readOnly = true)
  public Optional<Caller> resolve(String token) {
    return tokens
        .findByTokenHash(hash(token))
        .map(t -> new Caller(t.project, Role.parse(t.role), t.name));
  }
}
