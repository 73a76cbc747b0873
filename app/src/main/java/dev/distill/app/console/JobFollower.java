package dev.distill.app.console;

import dev.distill.app.control.ApiException;
import dev.distill.app.control.JobsClient;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.Set;
import tools.jackson.databind.JsonNode;

/**
 * Follows a job until it reaches an end state: prints its events as they arrive (validation passes
 * and checkpoints among them), a progress line with step, loss and ETA, and at the end the final
 * metrics and output. Used by {@code follow} and by the demo. Polling (once a second) keeps it
 * simple and robust to service restarts; an unreachable service is retried once it has answered
 * (the first request failing to connect is an error: most likely a wrong URL).
 */
public final class JobFollower {

  public static final Set<String> END_STATES = Set.of("SUCCEEDED", "FAILED", "CANCELLED");

  private final JobsClient jobs;
  private final PrintWriter out;
  private final boolean interactive;
  private final String label;

  /**
   * @param interactive redraw one progress line with carriage returns (a terminal); else print a
   *     line per ten percent
   */
  public JobFollower(JobsClient jobs, PrintWriter out, boolean interactive, String label) {
    this.jobs = jobs;
    this.out = out;
    this.interactive = interactive;
    this.label = label;
  }

  /** Blocks until the job ends; returns its final resource. */
  public JsonNode follow(String jobId) throws InterruptedException {
    String eventCursor = null;
    long lastStep = -1;
    double lastLoss = Double.NaN;
    Instant firstStepAt = null;
    long firstStep = -1;
    int lastDecile = -1;
    boolean progressShown = false;
    boolean reached = false;
    while (true) {
      JsonNode job;
      try {
        job = jobs.job(jobId);
        reached = true;
        JsonNode events = jobs.events(jobId, eventCursor, 100);
        for (JsonNode e : items(events)) {
          if (progressShown && interactive) {
            out.print("\r\033[K");
            progressShown = false;
          }
          out.println(prefix() + eventLine(e));
          eventCursor = cursorOf(e, eventCursor);
        }
        JsonNode points = jobs.metrics(jobId, "loss", lastStep);
        for (JsonNode p : MetricRows.flatten(points)) {
          long s = p.path("step").asLong();
          if (s > lastStep) {
            lastStep = s;
            lastLoss = p.path("value").asDouble();
          }
        }
      } catch (ApiException e) {
        // never reached at all: a wrong URL more likely than a restart, so do not wait forever
        if (!e.retryable() || (!reached && e.status() == 0)) {
          throw e;
        }
        out.println(prefix() + "service unreachable, retrying: " + e.getMessage());
        out.flush();
        Thread.sleep(2000);
        continue;
      }
      String status = job.path("status").asString("");
      long maxSteps = job.path("spec").path("hyperparameters").path("max_steps").asLong(0);
      if (lastStep > 0) {
        if (firstStepAt == null) {
          firstStepAt = Instant.now();
          firstStep = lastStep;
        }
        String line = progress(lastStep, maxSteps, lastLoss, firstStepAt, firstStep);
        if (interactive) {
          out.print("\r\033[K" + prefix() + line);
          progressShown = true;
        } else {
          int decile = maxSteps > 0 ? (int) (10 * lastStep / maxSteps) : -1;
          if (decile != lastDecile) {
            out.println(prefix() + line);
            lastDecile = decile;
          }
        }
      }
      out.flush();
      if (END_STATES.contains(status)) {
        if (progressShown) {
          out.println();
        }
        out.println(
            prefix()
                + status
                + (job.hasNonNull("failure_reason")
                    ? ": " + job.get("failure_reason").asString()
                    : ""));
        String metrics = finalMetrics(job);
        if (!metrics.isEmpty()) {
          out.println(prefix() + "final metrics: " + metrics);
        }
        if (job.hasNonNull("output_uri")) {
          out.println(prefix() + "output: " + job.get("output_uri").asString());
        }
        out.flush();
        return job;
      }
      Thread.sleep(1000);
    }
  }

  /**
   * The job's latest value of every series ({@code latest_metrics}), by name: {@code loss 1.234,
   * val_loss 1.301, ...}; empty when it has none.
   */
  static String finalMetrics(JsonNode job) {
    java.util.TreeMap<String, Double> sorted = new java.util.TreeMap<>();
    job.path("latest_metrics")
        .properties()
        .forEach(
            e -> {
              if (e.getValue().isNumber()) {
                sorted.put(e.getKey(), e.getValue().asDouble());
              }
            });
    java.util.StringJoiner sj = new java.util.StringJoiner(", ");
    sorted.forEach((k, v) -> sj.add(k + " " + MetricRows.format(v)));
    return sj.toString();
  }

  /** The process exit code for a job's end state: 0 succeeded, 1 failed, 3 cancelled. */
  public static int exitCode(JsonNode job) {
    return switch (job.path("status").asString("")) {
      case "SUCCEEDED" -> 0;
      case "CANCELLED" -> 3;
      default -> 1;
    };
  }

  private String prefix() {
    return label == null ? "" : "[" + label + "] ";
  }

  static Iterable<JsonNode> items(JsonNode body) {
    return body.isArray() ? body : body.path("items");
  }

  static String cursorOf(JsonNode e, String previous) {
    for (String f : new String[] {"id", "seq", "cursor"}) {
      if (e.hasNonNull(f)) {
        return e.get(f).asString();
      }
    }
    return previous;
  }

  static String eventLine(JsonNode e) {
    String type = e.path("type").asString(e.path("kind").asString(""));
    String msg = e.path("message").asString("");
    String at = e.path("created_at").asString(e.path("ts").asString(""));
    if (at.length() >= 19) {
      at = at.substring(11, 19);
    }
    return (at.isEmpty() ? "" : at + " ") + type + (msg.isEmpty() ? "" : ": " + msg);
  }

  static String progress(long step, long maxSteps, double loss, Instant since, long sinceStep) {
    StringBuilder sb = new StringBuilder();
    if (maxSteps > 0) {
      int width = 30;
      int filled = (int) Math.min(width, width * step / maxSteps);
      sb.append('[').append("#".repeat(filled)).append(".".repeat(width - filled)).append("] ");
      sb.append(step).append('/').append(maxSteps);
    } else {
      sb.append("step ").append(step);
    }
    if (!Double.isNaN(loss)) {
      sb.append(String.format(Locale.ROOT, "  loss %.4f", loss));
    }
    double elapsed = Duration.between(since, Instant.now()).toMillis() / 1000.0;
    long done = step - sinceStep;
    if (maxSteps > 0 && done > 0 && elapsed > 0) {
      long eta = (long) ((maxSteps - step) * elapsed / done);
      sb.append(String.format(Locale.ROOT, "  ETA %d:%02d", eta / 60, eta % 60));
    }
    return sb.toString();
  }
}
