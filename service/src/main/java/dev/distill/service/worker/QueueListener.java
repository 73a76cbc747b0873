package dev.distill.service.worker;

import dev.distill.service.job.JobTransitions;
import java.sql.Connection;
import java.sql.Statement;
import javax.sql.DataSource;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.SmartLifecycle;
import org.springframework.stereotype.Component;

/**
 * Holds one connection that {@code LISTEN}s on {@link JobTransitions#CHANNEL} and wakes waiting
 * claims when a job becomes claimable. Polling in {@link ClaimService} stays the backstop: a lost
 * connection only delays claims until the next poll.
 */
@Component
class QueueListener implements SmartLifecycle {

  private static final Logger log = LoggerFactory.getLogger(QueueListener.class);
  private final DataSource dataSource;
  private final Object monitor = new Object();
  private long generation;
  private volatile boolean running;
  private Thread thread;

  QueueListener(DataSource dataSource) {
    this.dataSource = dataSource;
  }

  /** The current generation; pass it to {@link #awaitChange} to not miss a wake-up in between. */
  long generation() {
    synchronized (monitor) {
      return generation;
    }
  }

  /** Waits until a notification arrived after {@code seen} was read, or the timeout passed. */
  void awaitChange(long seen, long timeoutMillis) throws InterruptedException {
    long end = System.currentTimeMillis() + timeoutMillis;
    synchronized (monitor) {
      while (generation == seen) {
        long left = end - System.currentTimeMillis();
        if (left <= 0) {
          return;
        }
        monitor.wait(left);
      }
    }
  }

  private void wake() {
    synchronized (monitor) {
      generation++;
      monitor.notifyAll();
    }
  }

  private void loop() {
    while (running) {
      try (Connection c = dataSource.getConnection()) {
        c.setAutoCommit(true);
        try (Statement s = c.createStatement()) {
          s.execute("LISTEN " + JobTransitions.CHANNEL);
        }
        PGConnection pg = c.unwrap(PGConnection.class);
        wake(); // anything that happened while not listening
        while (running) {
          PGNotification[] n = pg.getNotifications(1000);
          if (n != null && n.length > 0) {
            wake();
          }
        }
      } catch (Exception e) {
        if (running) {
          log.warn("LISTEN connection lost, retrying in 1 s: {}", e.getMessage());
          try {
            Thread.sleep(1000);
          } catch (InterruptedException ie) {
            return;
          }
        }
      }
    }
  }

  @Override
  public void start() {
    running = true;
    thread = new Thread(this::loop, "distill-listen");
    thread.setDaemon(true);
    thread.start();
  }

  @Override
  public void stop() {
    running = false;
    if (thread != null) {
      thread.interrupt();
    }
  }

  @Override
  public boolean isRunning() {
    return running;
  }
}
