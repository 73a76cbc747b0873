package dev.distill.service.job;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.EnumType;
import jakarta.persistence.Enumerated;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.time.Instant;
import java.util.UUID;
import org.hibernate.annotations.Immutable;

/**
 * A row of {@code jobs} as the read side sees it. Writes go through {@link JobTransitions} and the
 * claim query in SQL, so that every status change is a checked transition with an event row.
 */
@Entity
@Immutable
@Table(name = "jobs")
public class Job {
  @Id UUID id;
  String project;
  String type;

  @Enumerated(EnumType.STRING)
  JobStatus status;

  String spec;
  int priority;
  int attempts;

  @Column(name = "max_attempts")
  int maxAttempts;

  @Column(name = "created_at")
  Instant createdAt;

  @Column(name = "updated_at")
  Instant updatedAt;

  @Column(name = "started_at")
  Instant startedAt;

  @Column(name = "finished_at")
  Instant finishedAt;

  @Column(name = "failure_reason")
  String failureReason;

  Boolean retryable;

  @Column(name = "worker_id")
  String workerId;

  @Column(name = "output_uri")
  String outputUri;

  @Column(name = "lease_id")
  UUID leaseId;

  @Column(name = "lease_expires_at")
  Instant leaseExpiresAt;

  long epoch;

  protected Job() {}

  public UUID id() {
    return id;
  }

  public JobStatus status() {
    return status;
  }

  public String project() {
    return project;
  }
}
