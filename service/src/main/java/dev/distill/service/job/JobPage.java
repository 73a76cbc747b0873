package dev.distill.service.job;

import java.util.List;
import java.util.UUID;

/**
 * One page of {@code GET /v1/jobs}, newest first.
 *
 * @param nextAfter pass as {@code after} for the next page; null when {@code hasMore} is false
 */
public record JobPage(List<JobResource> items, boolean hasMore, UUID nextAfter) {}
