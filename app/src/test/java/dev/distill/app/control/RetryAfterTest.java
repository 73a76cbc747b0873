package dev.distill.app.control;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.distill.app.control.ScriptedService.Answer;
import dev.distill.spec.protocol.HeartbeatRequest;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * The worker's typed client reads {@code Retry-After} off a real HTTP answer (seconds or an HTTP
 * date) on 429 and 503, and {@link Backoff} waits at least that long, at most {@link
 * Backoff#MAX_RETRY_AFTER}; without one it backs off exponentially with jitter.
 */
class RetryAfterTest {

  static final UUID LEASE = UUID.randomUUID();

  static ApiException heartbeatAnswered(Answer answer) throws Exception {
    try (ScriptedService service = new ScriptedService().script("heartbeat", answer)) {
      WorkerClient client = new WorkerClient(service.base(), "worker-token");
      return catchThrowableOfType(
          ApiException.class, () -> client.heartbeat(LEASE, new HeartbeatRequest(1L, 0L)));
    }
  }

  @Test
  void a503sRetryAfterInSecondsIsRead() throws Exception {
    ApiException e = heartbeatAnswered(Answer.unavailable("7"));

    assertThat(e.status()).isEqualTo(503);
    assertThat(e.retryable()).isTrue();
    assertThat(e.type()).isEqualTo("https://distill.dev/problems/unavailable");
    assertThat(e.retryAfter()).contains(Duration.ofSeconds(7));
  }

  @Test
  void a429sRetryAfterAsAnHttpDateIsRead() throws Exception {
    String in30s =
        DateTimeFormatter.RFC_1123_DATE_TIME.format(
            ZonedDateTime.now(ZoneOffset.UTC).plusSeconds(30));
    ApiException e = heartbeatAnswered(new Answer(429, in30s, null));

    assertThat(e.status()).isEqualTo(429);
    // the date has whole seconds: between 29 and 30 s from when it was read
    assertThat(e.retryAfter())
        .hasValueSatisfying(
            d -> assertThat(d).isBetween(Duration.ofSeconds(28), Duration.ofSeconds(30)));
  }

  @Test
  void otherAnswersAndUnreadableHeadersCarryNone() throws Exception {
    assertThat(heartbeatAnswered(new Answer(500, "7", null)).retryAfter()).isEmpty();
    assertThat(heartbeatAnswered(new Answer(409, "7", null)).retryAfter()).isEmpty();
    assertThat(heartbeatAnswered(Answer.unavailable(null)).retryAfter()).isEmpty();
    assertThat(heartbeatAnswered(Answer.unavailable("soon")).retryAfter()).isEmpty();
  }

  @Test
  void theBackoffWaitsAtLeastWhatRetryAfterAsksAtMostAMinute() throws Exception {
    ApiException asks7 = heartbeatAnswered(Answer.unavailable("7"));
    ApiException asksAnHour = heartbeatAnswered(Answer.unavailable("3600"));
    ApiException asksNothing = heartbeatAnswered(Answer.unavailable(null));

    // jitter at its top (random 1 - 1e-9): the asked wait plus a tenth, the base whole
    Backoff top = new Backoff(Duration.ofMillis(500), Duration.ofSeconds(10), () -> 0.999999999);
    assertThat(top.after(asks7)).isBetween(Duration.ofMillis(7699), Duration.ofMillis(7700));
    assertThat(top.after(asksAnHour)).isEqualTo(Backoff.MAX_RETRY_AFTER);
    // the base doubled twice meanwhile: 2 s
    assertThat(top.after(asksNothing)).isBetween(Duration.ofMillis(1999), Duration.ofSeconds(2));

    // jitter at its bottom: half the base, the asked wait exactly
    Backoff bottom = new Backoff(Duration.ofMillis(500), Duration.ofSeconds(10), () -> 0.0);
    assertThat(bottom.after(asksNothing)).isEqualTo(Duration.ofMillis(250));
    assertThat(bottom.after(asksNothing)).isEqualTo(Duration.ofMillis(500));
    assertThat(bottom.after(asks7)).isEqualTo(Duration.ofSeconds(7));
    for (int i = 0; i < 10; i++) {
      bottom.after(asksNothing);
    }
    assertThat(bottom.after(asksNothing))
        .as("the base stops at max")
        .isEqualTo(Duration.ofSeconds(5));
    // a Retry-After shorter than the backoff does not shorten it
    assertThat(bottom.after(heartbeatAnswered(Answer.unavailable("1"))))
        .isEqualTo(Duration.ofSeconds(5));
    bottom.reset();
    assertThat(bottom.after(asksNothing)).isEqualTo(Duration.ofMillis(250));
  }
}
