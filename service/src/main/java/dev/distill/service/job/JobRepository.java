package dev.distill.service.job;

import java.util.Optional;
import java.util.UUID;
import org.springframework.data.jpa.repository.JpaRepository;

interface JobRepository extends JpaRepository<Job, UUID> {
  Optional<Job> findByIdAndProject(UUID id, String project);
}
