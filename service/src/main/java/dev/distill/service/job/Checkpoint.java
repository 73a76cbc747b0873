package dev.distill.service.job;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.time.Instant;
import java.util.UUID;
import org.hibernate.annotations.Immutable;

/** A row of {@code checkpoints}: a checkpoint a worker registered. Written by SQL upsert. */
@Entity
@Immutable
@Table(name = "checkpoints")
class Checkpoint {
  @Id Long id;

  @Column(name = "job_id")
  UUID jobId;

  int attempt;
  String uri;
  long step;

  @Column(name = "size_bytes")
  long sizeBytes;

  String sha256;
  String metrics;

  @Column(name = "is_final")
  boolean isFinal;

  @Column(name = "created_at")
  Instant createdAt;

  /** When the worker reported the directory deleted; null while it exists. */
  @Column(name = "deleted_at")
  Instant deletedAt;

  /** The metric by which an evaluation chose this checkpoint as its job's best; null if not. */
  @Column(name = "best_metric")
  String bestMetric;

  @Column(name = "best_mode")
  String bestMode;

  @Column(name = "best_value")
  Double bestValue;

  @Column(name = "best_evaluation")
  UUID bestEvaluation;

  protected Checkpoint() {}
}
