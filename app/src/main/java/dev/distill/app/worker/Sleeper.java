package dev.distill.app.worker;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/** Waits between tries. The real one sleeps; a test records the waits instead of taking them. */
interface Sleeper {

  void sleep(Duration d) throws InterruptedException;

  Sleeper REAL = d -> TimeUnit.NANOSECONDS.sleep(Math.max(0, d.toNanos()));
}
