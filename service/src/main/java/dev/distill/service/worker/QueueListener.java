package dev.distill.service.worker;

import dev.distill.service.job.JobTransitions;
import java.sql.Connection;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import javax.sql.DataSource;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.SmartLifecycle;
import org.springframework.stereotype.Component;

/**
 * Holds one connection that {@code LISTEN}s on {@link JobTransitions#CHANNEL} and wakes waiting
 * claims when a job becomes claimable. Polling in {@link ClaimWaits} stays the backstop: a lost
 * connection only delays claims until the next poll.
 */
@Component
class QueueListener implements SmartLifecycle {

  private static final Logger log = LoggerFactory.getLogger(QueueListener.class);
  private final DataSource dataSource;
  private final List<Runnable> subscribers = new CopyOnWriteArrayList<>();
  private volatile boolean running;
  private Thread thread;

  QueueListener(DataSource dataSource) {
    this.dataSource = dataSource;
  }

  /** {@code r} runs (on the listener's thread; keep it short) whenever jobs may have changed. */
  void onChange(Runnable r) {
    subscribers.add(r);
  }

  private void wake() {
    for (Runnable r : subscribers) {
      try {
        r.run();
      } catch (RuntimeException e) {
        log.warn("queue change subscriber failed: {}", e.getMessage());
      }
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
