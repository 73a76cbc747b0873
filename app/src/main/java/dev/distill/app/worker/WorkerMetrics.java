package dev.distill.app.worker;

import com.sun.net.httpserver.HttpServer;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.DoubleAdder;

/**
 * The worker's own Prometheus metrics, served at {@code /metrics} on a configurable port: training
 * speed, step time, memory and whether a job runs. Names follow Prometheus conventions (base units,
 * {@code _total}). No series carries the job id (an unbounded label): which job a worker runs is in
 * its log and in the service's {@code GET /v1/workers} ({@code current_job_id}).
 */
public final class WorkerMetrics implements AutoCloseable {

  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final AtomicReference<String> currentJob = new AtomicReference<>("");
  private final DoubleAdder tokensPerSecond = new DoubleAdder();
  private final Timer stepTime;
  private final Counter steps;
  private final Counter tokens;
  private final Counter jobsFinished;
  private final Counter reportRetries;
  private HttpServer server;

  public WorkerMetrics(String workerId) {
    registry.config().commonTags("worker", workerId);
    new JvmMemoryMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    stepTime =
        Timer.builder("distill.worker.step")
            .description("Wall time of one optimiser step")
            .publishPercentileHistogram()
            .register(registry);
    steps =
        Counter.builder("distill.worker.steps")
            .description("Optimiser steps done")
            .register(registry);
    tokens =
        Counter.builder("distill.worker.tokens")
            .description("Tokens trained on")
            .register(registry);
    jobsFinished =
        Counter.builder("distill.worker.jobs.finished")
            .description("Jobs this worker ended (any outcome)")
            .register(registry);
    reportRetries =
        Counter.builder("distill.worker.report.retries")
            .description("Report batches retried because the service was unreachable")
            .register(registry);
    Gauge.builder("distill.worker.tokens.per.second", tokensPerSecond, DoubleAdder::sum)
        .description("Training speed of the last step, input tokens per second")
        .register(registry);
    Gauge.builder("distill.worker.busy", currentJob, j -> j.get().isEmpty() ? 0 : 1)
        .description("1 while a job runs")
        .register(registry);
    Gauge.builder(
            "distill.worker.native.memory.resident",
            () -> ProcessHandle.current().pid() > 0 ? residentBytes() : 0)
        .baseUnit("bytes")
        .description(
            "Resident set size of the worker process (JVM heap, direct and native tensors)")
        .register(registry);
  }

  /**
   * Starts serving {@code /metrics} on the loopback address and {@code port} (0 picks a free one);
   * returns the bound port.
   */
  public int serve(int port) throws IOException {
    return serve("127.0.0.1", port);
  }

  /**
   * Starts serving {@code /metrics} on {@code address} ({@code 0.0.0.0}: every interface) and
   * {@code port} (0 picks a free one); returns the bound port.
   */
  public int serve(String address, int port) throws IOException {
    server = HttpServer.create(new InetSocketAddress(address, port), 0);
    server.createContext(
        "/metrics",
        exchange -> {
          byte[] body = registry.scrape().getBytes(StandardCharsets.UTF_8);
          exchange
              .getResponseHeaders()
              .add("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
          exchange.sendResponseHeaders(200, body.length);
          try (OutputStream os = exchange.getResponseBody()) {
            os.write(body);
          }
        });
    server.start();
    return server.getAddress().getPort();
  }

  /** Where {@code /metrics} is served, once {@link #serve} was called. */
  public InetSocketAddress address() {
    return server.getAddress();
  }

  /** A job started: {@code distill_worker_busy} is 1 until {@link #jobFinished}. */
  public void jobStarted(String jobId) {
    currentJob.set(jobId);
  }

  public void jobFinished() {
    currentJob.set("");
    tokensPerSecond.reset();
    jobsFinished.increment();
  }

  public void step(double seconds, double tokPerSec, long stepTokens) {
    stepTime.record(Duration.ofNanos((long) (seconds * 1e9)));
    steps.increment();
    tokens.increment(stepTokens);
    tokensPerSecond.reset();
    tokensPerSecond.add(tokPerSec);
  }

  public void reportRetried() {
    reportRetries.increment();
  }

  public String scrape() {
    return registry.scrape();
  }

  private static double residentBytes() {
    try {
      for (String line :
          java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
        if (line.startsWith("VmRSS:")) {
          String[] parts = line.trim().split("\\s+");
          return Double.parseDouble(parts[1]) * 1024;
        }
      }
    } catch (IOException | RuntimeException e) {
      return Double.NaN;
    }
    return Double.NaN;
  }

  @Override
  public void close() {
    if (server != null) {
      server.stop(0);
    }
    registry.close();
  }
}
