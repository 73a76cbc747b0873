package dev.distill.service.auth;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.distill.service.web.ApiException;
import dev.distill.service.web.FieldError;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestAttribute;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.ResponseStatus;
import org.springframework.web.bind.annotation.RestController;

/**
 * {@code /v1/tokens} (admin only, always within the caller's own project): issue a token (shown
 * once), list the project's tokens (never their secrets), revoke one.
 */
@RestController
class TokenController {

  static final Duration MIN_TTL = Duration.ofMinutes(1);
  static final Duration MAX_TTL = Duration.ofDays(3660);
  private final TokenService tokens;

  TokenController(TokenService tokens) {
    this.tokens = tokens;
  }

  /**
   * @param name a label for the token
   * @param role admin, member, viewer or worker
   * @param project the caller's project (the default); tokens for another project are refused
   * @param expiresAt when the token stops working; absent (and no ttl): never
   * @param ttl how long the token works, an ISO-8601 duration such as {@code PT12H} or {@code P30D}
   */
  record TokenRequest(
      @JsonProperty("name") String name,
      @JsonProperty("role") String role,
      @JsonProperty("project") String project,
      @JsonProperty("expires_at") Instant expiresAt,
      @JsonProperty("ttl") String ttl) {}

  record TokenResponse(
      String token,
      UUID id,
      String name,
      String role,
      String project,
      Instant createdAt,
      Instant expiresAt) {}

  record TokenList(List<TokenService.Info> items) {}

  @PostMapping(path = "/v1/tokens", consumes = MediaType.APPLICATION_JSON_VALUE)
  @ResponseStatus(HttpStatus.CREATED)
  TokenResponse create(
      @RequestBody TokenRequest body, @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    if (body.project() != null && !body.project().equals(caller.project())) {
      throw new ApiException(
          HttpStatus.FORBIDDEN,
          "forbidden",
          "Forbidden",
          "an admin token issues tokens only for its own project ('"
              + caller.project()
              + "'); use an admin token of the other project",
          List.of(new FieldError("project", "must be the caller's project or absent")));
    }
    List<FieldError> errors = new ArrayList<>();
    if (body.name() == null || !body.name().matches("[A-Za-z0-9._:-]{1,64}")) {
      errors.add(new FieldError("name", "is required: 1..64 of A-Z a-z 0-9 . _ : -"));
    }
    Role role = Role.parse(body.role());
    if (role == null) {
      errors.add(new FieldError("role", "must be one of admin, member, viewer, worker"));
    }
    Instant now = Instant.now();
    Instant expiresAt = body.expiresAt();
    if (body.ttl() != null && expiresAt != null) {
      errors.add(new FieldError("ttl", "give expires_at or ttl, not both"));
    } else if (body.ttl() != null) {
      Duration ttl = parseTtl(body.ttl());
      if (ttl == null) {
        errors.add(
            new FieldError(
                "ttl",
                "must be an ISO-8601 duration from PT1M to P3660D (for example PT12H, P30D), was '"
                    + body.ttl()
                    + "'"));
      } else {
        expiresAt = now.plus(ttl);
      }
    } else if (expiresAt != null
        && (expiresAt.isBefore(now.plus(MIN_TTL)) || expiresAt.isAfter(now.plus(MAX_TTL)))) {
      errors.add(
          new FieldError("expires_at", "must be at least 1 minute and at most 3660 days from now"));
    }
    if (!errors.isEmpty()) {
      throw ApiException.invalid(errors);
    }
    TokenService.Issued issued = tokens.issue(body.name(), caller.project(), role, expiresAt);
    TokenService.Info i = issued.info();
    return new TokenResponse(
        issued.token(), i.id(), i.name(), i.role(), i.project(), i.createdAt(), i.expiresAt());
  }

  @GetMapping("/v1/tokens")
  TokenList list(@RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    return new TokenList(tokens.list(caller.project()));
  }

  /** Revokes a token of the caller's project; it is refused from its next request on. */
  @DeleteMapping("/v1/tokens/{id}")
  ResponseEntity<Void> revoke(
      @PathVariable("id") UUID id, @RequestAttribute(Caller.ATTRIBUTE) Caller caller) {
    if (!tokens.revoke(caller.project(), id)) {
      throw ApiException.notFound("token " + id);
    }
    return ResponseEntity.noContent().build();
  }

  private static Duration parseTtl(String ttl) {
    try {
      Duration d = Duration.parse(ttl);
      return d.compareTo(MIN_TTL) < 0 || d.compareTo(MAX_TTL) > 0 ? null : d;
    } catch (DateTimeParseException e) {
      return null;
    }
  }
}
