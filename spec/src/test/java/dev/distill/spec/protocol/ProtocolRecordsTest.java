package dev.distill.spec.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distill.spec.InvalidSpecException;
import dev.distill.spec.JobSpec;
import dev.distill.spec.SpecViolation;
import java.time.Instant;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.json.JsonMapper;

/** The worker protocol's wire format (snake_case) and each record's own checks. */
class ProtocolRecordsTest {

  private final JsonMapper json =
      JsonMapper.builder().enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES).build();

  @Test
  void claimRequestReadsSnakeCaseAndFillsDefaults() {
    ClaimRequest r =
        json.readValue(
            "{\"worker_id\":\"gpu-1\",\"capabilities\":{\"device\":\"CUDA\",\"memory_mb\":24000,\"labels\":{\"pool\":\"a\"}},\"wait_seconds\":30}",
            ClaimRequest.class);
    assertThat(r.capabilities().device()).isEqualTo("cuda");
    assertThat(r.capabilities().memoryMb()).isEqualTo(24000);
    assertThat(r.waitSeconds()).isEqualTo(30);
    ClaimRequest bare = json.readValue("{\"worker_id\":\"w\"}", ClaimRequest.class);
    assertThat(bare.capabilities().device()).isEqualTo("cpu");
    assertThat(bare.waitSeconds()).isZero();
  }

  @Test
  void claimRequestListsEveryViolation() {
    assertThatThrownBy(() -> new ClaimRequest("bad id!", null, 31))
        .isInstanceOf(InvalidSpecException.class)
        .satisfies(
            e ->
                assertThat(((InvalidSpecException) e).violations())
                    .extracting(SpecViolation::field)
                    .containsExactly("worker_id", "wait_seconds"));
  }

  @Test
  void claimResponseRoundTrips() {
    JobSpec spec =
        json.readValue(
            "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\",\"dataset\":{\"uri\":\"builtin:procedural\"}}",
            JobSpec.class);
    UUID id = UUID.randomUUID();
    ClaimResponse r =
        new ClaimResponse(
            new ClaimedJob(id, "default", spec, 2, 3, new Artifact("file:/c/step-5", 5, "ab", 10)),
            UUID.randomUUID(),
            Instant.parse("2026-01-01T00:00:00Z"),
            7,
            Map.of(id.toString(), new Artifact("file:/o", 9, "cd", 11)));
    String text = json.writeValueAsString(r);
    assertThat(text)
        .contains(
            "\"lease_id\"", "\"lease_expires_at\":\"2026-01-01T00:00:00Z\"", "\"resume_from\"")
        .contains("\"size_bytes\":10", "\"max_attempts\":3");
    assertThat(json.readValue(text, ClaimResponse.class)).isEqualTo(r);
  }

  @Test
  void metricPointsMustBeFiniteAndNamed() {
    assertThatThrownBy(() -> new MetricPoint(1L, "loss", Double.NaN, null))
        .hasMessageContaining("value");
    assertThatThrownBy(() -> new MetricPoint(-1L, "Loss!", 1.0, null))
        .satisfies(
            e ->
                assertThat(((InvalidSpecException) e).violations())
                    .extracting(SpecViolation::field)
                    .containsExactly("step", "name"));
    assertThatThrownBy(() -> new MetricBatch(1L, java.util.List.of()))
        .hasMessageContaining("points");
  }

  @Test
  void checkpointRegistrationChecksUriAndDigest() {
    CheckpointRegistration ok =
        json.readValue(
            "{\"epoch\":1,\"uri\":\"file:/ck/step-1\",\"step\":1,\"size_bytes\":5,\"sha256\":\""
                + "0".repeat(64)
                + "\",\"final\":true}",
            CheckpointRegistration.class);
    assertThat(ok.isFinal()).isTrue();
    assertThat(json.writeValueAsString(ok)).contains("\"final\":true");
    assertThatThrownBy(
            () -> new CheckpointRegistration(1L, "file:/ck/../x", 1L, 1L, "XYZ", null, null))
        .satisfies(
            e ->
                assertThat(((InvalidSpecException) e).violations())
                    .extracting(SpecViolation::field)
                    .containsExactly("uri", "sha256"));
  }

  @Test
  void aRegistrationsDeletedUrisCheckThemselves() {
    String sha = "a".repeat(64);
    assertThat(new CheckpointRegistration(1L, "file:/ck/s2", 2L, 1L, sha, null, null).deleted())
        .isEmpty();
    java.util.List<String> bad = new java.util.ArrayList<>();
    bad.add("file:/ck/s1");
    bad.add("s3://x");
    bad.add(null);
    assertThatThrownBy(
            () -> new CheckpointRegistration(1L, "file:/ck/s2", 2L, 1L, sha, null, null, bad))
        .satisfies(
            e ->
                assertThat(((InvalidSpecException) e).violations())
                    .extracting(SpecViolation::field)
                    .containsExactly("deleted[1]", "deleted[2]"));
  }

  @Test
  void eventsAndFailuresCheckThemselves() {
    assertThatThrownBy(() -> new WorkerEvent(null, null, "loud", "status", null, null))
        .satisfies(
            e ->
                assertThat(((InvalidSpecException) e).violations())
                    .extracting(SpecViolation::field)
                    .containsExactly("seq", "level", "kind"));
    FailRequest f = new FailRequest(3L, "oom", null, null);
    assertThat(f.retryable()).isFalse();
    assertThat(f.cancelled()).isFalse();
    assertThatThrownBy(() -> new FailRequest(null, " ", true, false))
        .hasMessageContaining("epoch")
        .hasMessageContaining("reason");
  }

  @Test
  void releaseRequestNeedsEpochAndReason() {
    ReleaseRequest r =
        json.readValue("{\"epoch\":4,\"reason\":\"shut down\"}", ReleaseRequest.class);
    assertThat(r.epoch()).isEqualTo(4);
    assertThatThrownBy(() -> new ReleaseRequest(null, " "))
        .satisfies(
            e ->
                assertThat(((InvalidSpecException) e).violations())
                    .extracting(SpecViolation::field)
                    .containsExactly("epoch", "reason"));
  }

  @Test
  void batchResponseIsSnakeCaseAndAnOldAnswerMeansHeldAndNotCancelled() {
    assertThat(json.writeValueAsString(new BatchResponse(3, true, false)))
        .isEqualTo("{\"accepted\":3,\"lease_lost\":true,\"cancel_requested\":false}");
    // a service from before these flags answered only {accepted}: nothing lost, nothing cancelled
    BatchResponse old = json.readValue("{\"accepted\":2}", BatchResponse.class);
    assertThat(old.leaseLost()).isFalse();
    assertThat(old.cancelRequested()).isFalse();
  }
}
