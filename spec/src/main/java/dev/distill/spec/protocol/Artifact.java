package dev.distill.spec.protocol;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * A stored checkpoint (or other output) of a job, as the worker needs it: where, which step, and
 * how to verify it.
 *
 * @param uri where the files are, for example {@code file:/data/ckpt/step-200}
 * @param step the optimiser step it was written at
 * @param sha256 hex SHA-256 the writer computed over the checkpoint
 * @param sizeBytes total size in bytes
 */
public record Artifact(
    @JsonProperty("uri") String uri,
    @JsonProperty("step") long step,
    @JsonProperty("sha256") String sha256,
    @JsonProperty("size_bytes") long sizeBytes) {}
