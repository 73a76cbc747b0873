/**
 * Jobs: the lifecycle ({@link dev.distill.service.job.JobStatus}, one transition table, every
 * transition an event row), the user-facing REST API under {@code /v1/jobs} and the reads of a
 * job's events, metrics and checkpoints. The worker protocol lives in {@code worker}.
 */
package dev.distill.service.job;
