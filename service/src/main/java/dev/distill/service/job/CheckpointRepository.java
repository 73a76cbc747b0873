package dev.distill.service.job;

import java.util.List;
import java.util.UUID;
import org.springframework.data.jpa.repository.JpaRepository;

interface CheckpointRepository extends JpaRepository<Checkpoint, Long> {
  List<Checkpoint> findByJobIdOrderByStepAscIdAsc(UUID jobId);
}
