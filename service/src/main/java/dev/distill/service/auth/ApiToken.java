package dev.distill.service.auth;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.time.Instant;
import java.util.UUID;

/** A stored token: its hash, never the token. */
@Entity
@Table(name = "api_tokens")
class ApiToken {
  @Id UUID id;
  String name;
  String project;
  String role;

  @Column(name = "token_hash")
  String tokenHash;

  @Column(name = "created_at")
  Instant createdAt;

  /** Null: never expires. */
  @Column(name = "expires_at")
  Instant expiresAt;

  @Column(name = "last_used_at")
  Instant lastUsedAt;

  protected ApiToken() {}

  ApiToken(String name, String project, Role role, String tokenHash, Instant expiresAt) {
    this.id = UUID.randomUUID();
    this.name = name;
    this.project = project;
    this.role = role.json();
    this.tokenHash = tokenHash;
    this.createdAt = Instant.now();
    this.expiresAt = expiresAt;
  }

  boolean expiredAt(Instant now) {
    return expiresAt != null && !expiresAt.isAfter(now);
  }
}
