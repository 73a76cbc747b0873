package dev.distill.service.auth;

import java.util.Optional;
import java.util.UUID;
import org.springframework.data.jpa.repository.JpaRepository;

interface ApiTokenRepository extends JpaRepository<ApiToken, UUID> {
  Optional<ApiToken> findByTokenHash(String tokenHash);

  void deleteByNameAndProject(String name, String project);
}
