package dev.distill.service.auth;

import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.springframework.data.jpa.repository.JpaRepository;
import org.springframework.data.jpa.repository.Modifying;
import org.springframework.data.jpa.repository.Query;
import org.springframework.data.repository.query.Param;

interface ApiTokenRepository extends JpaRepository<ApiToken, UUID> {
  Optional<ApiToken> findByTokenHash(String tokenHash);

  List<ApiToken> findByProjectOrderByCreatedAtAscIdAsc(String project);

  Optional<ApiToken> findByIdAndProject(UUID id, String project);

  void deleteByNameAndProject(String name, String project);

  /** Sets last_used_at unless it was set within the last minute (one write a minute at most). */
  @Modifying
  @Query(
      "UPDATE ApiToken t SET t.lastUsedAt = :now WHERE t.id = :id"
          + " AND (t.lastUsedAt IS NULL OR t.lastUsedAt < :before)")
  int touch(@Param("id") UUID id, @Param("now") Instant now, @Param("before") Instant before);
}
