package dev.distill.spec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distill.spec.protocol.CheckpointRegistration;
import dev.distill.spec.protocol.ClaimRequest;
import dev.distill.spec.protocol.FailRequest;
import dev.distill.spec.protocol.MetricBatch;
import dev.distill.spec.protocol.ReleaseRequest;
import dev.distill.spec.protocol.WorkerEvent;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.ObjectMapper;

/** NUL characters and timestamps PostgreSQL cannot store are refused naming the field. */
class StoredValuesTest {

  private final ObjectMapper json = SpecJson.mapper();

  private void refused(String body, Class<?> type, String field, String message) {
    assertThatThrownBy(() -> json.readValue(body, type))
        .as(body)
        .rootCause()
        .isInstanceOfSatisfying(
            InvalidSpecException.class,
            e -> assertThat(e.violations()).as(body).contains(new SpecViolation(field, message)));
  }

  private static final String NUL = StoredValues.NUL_MESSAGE;
  private static final String BASE =
      "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\","
          + "\"dataset\":{\"uri\":\"builtin:procedural\"}";

  @Test
  void nulInTheSpecIsRefusedNamingTheField() {
    refused(BASE + ",\"metadata\":{\"a\":\"x\\u0000y\"}}", JobSpec.class, "metadata", NUL);
    refused(BASE + ",\"metadata\":{\"a\\u0000\":\"y\"}}", JobSpec.class, "metadata", NUL);
    refused(
        BASE + ",\"requirements\":{\"labels\":{\"pool\":\"a\\u0000\"}}}",
        JobSpec.class,
        "requirements.labels",
        NUL);
    refused(
        BASE + ",\"generation\":{\"pre_query_template\":\"x\\u0000\"}}",
        JobSpec.class,
        "generation.pre_query_template",
        NUL);
    refused(
        "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\\u0000\","
            + "\"dataset\":{\"uri\":\"builtin:procedural\"}}",
        JobSpec.class,
        "student.uri",
        NUL);
    refused(
        "{\"type\":\"finetune\",\"student\":\"job:\\u0000\","
            + "\"dataset\":{\"uri\":\"file:/data/x\\u0000\"}}",
        JobSpec.class,
        "dataset.uri",
        NUL);
    refused(
        "{\"type\":\"finetune\",\"student\":{\"uri\":\"builtin:gemma2-tiny\","
            + "\"config\":{\"x\":\"\\u0000\"}},\"dataset\":{\"uri\":\"builtin:procedural\"}}",
        JobSpec.class,
        "student.config",
        NUL);
  }

  @Test
  void nulInProtocolRecordsIsRefusedNamingTheField() {
    refused("{\"epoch\":1,\"reason\":\"oom\\u0000\"}", FailRequest.class, "reason", NUL);
    refused("{\"epoch\":1,\"reason\":\"bye\\u0000\"}", ReleaseRequest.class, "reason", NUL);
    refused(
        "{\"epoch\":1,\"events\":[{\"seq\":0,\"message\":\"a\\u0000b\"}]}",
        dev.distill.spec.protocol.EventBatch.class,
        "message",
        NUL);
    refused("{\"seq\":0,\"data\":{\"k\":[\"\\u0000\"]}}", WorkerEvent.class, "data", NUL);
    refused(
        "{\"worker_id\":\"w\",\"capabilities\":{\"labels\":{\"a\":\"\\u0000\"}}}",
        ClaimRequest.class,
        "labels",
        NUL);
    refused(
        "{\"epoch\":1,\"uri\":\"file:/x\\u0000\",\"step\":1,\"size_bytes\":1,"
            + "\"sha256\":\""
            + "0".repeat(64)
            + "\"}",
        CheckpointRegistration.class,
        "uri",
        NUL);
  }

  @Test
  void timestampsPostgresCannotStoreAreRefused() {
    refused(
        "{\"seq\":0,\"ts\":\"+300000-01-01T00:00:00Z\"}",
        WorkerEvent.class,
        "ts",
        StoredValues.INSTANT_MESSAGE);
    refused(
        "{\"epoch\":1,\"points\":[{\"step\":1,\"name\":\"loss\",\"value\":1.0,"
            + "\"ts\":\"-5000-01-01T00:00:00Z\"}]}",
        MetricBatch.class,
        "ts",
        StoredValues.INSTANT_MESSAGE);
    assertThat(
            json.readValue("{\"seq\":0,\"ts\":\"9999-12-31T23:59:59Z\"}", WorkerEvent.class).ts())
        .isEqualTo(Instant.parse("9999-12-31T23:59:59Z"));
    assertThat(StoredValues.hasNul(List.of("a", List.of("b\0")))).isTrue();
  }
}
