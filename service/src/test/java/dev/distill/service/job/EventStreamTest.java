package dev.distill.service.job;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** {@code Accept: text/event-stream} follows a job's events live and ends when the job has. */
class EventStreamTest extends ServiceTest {

  @Test
  void streamFollowsLiveEventsUntilTheJobEnds() throws Exception {
    Project p = newProject();
    String id = createJob(p.member(), example("finetune"));
    HttpRequest req =
        HttpRequest.newBuilder(
                URI.create("http://localhost:" + port + "/v1/jobs/" + id + "/events"))
            .header("Authorization", "Bearer " + p.viewer())
            .header("Accept", "text/event-stream")
            .build();
    CompletableFuture<List<String>> lines =
        HttpClient.newHttpClient()
            .sendAsync(req, HttpResponse.BodyHandlers.ofLines())
            .thenApply(HttpResponse::body)
            .thenApply(Stream::toList);
    Thread.sleep(500);
    assertThat(lines).as("the stream stays open while the job runs").isNotDone();
    Lease l = claim(p.worker(), "w");
    post(
        l.path("events"),
        p.worker(),
        Map.of(
            "epoch",
            l.epoch(),
            "events",
            List.of(Map.of("seq", 0, "kind", "progress", "message", "step 1"))));
    post(l.path("complete"), p.worker(), Map.of("epoch", l.epoch()));
    List<String> received = lines.get(20, TimeUnit.SECONDS);
    List<String> events = received.stream().filter(s -> s.startsWith("event:")).toList();
    assertThat(events)
        .containsExactly("event:status", "event:status", "event:progress", "event:status");
    assertThat(received.stream().filter(s -> s.startsWith("data:")).reduce("", String::concat))
        .contains("RUNNING -> SUCCEEDED");
  }
}
