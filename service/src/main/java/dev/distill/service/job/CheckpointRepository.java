package dev.distill.service.job;

import java.util.List;
import java.util.UUID;
import org.springframework.data.jpa.repository.JpaRepository;

interface CheckpointRepository extends JpaRepository<Checkpoint, Long> {
  /** The checkpoints still on disk: those the worker reported deleted are left out. */
  List<Checkpoint> findByJobIdAndDeletedAtIsNullOrderByStepAscIdAsc(UUID jobId);
}
