package dev.distill.app.cli;

import dev.distill.app.console.JobFollower;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import tools.jackson.databind.JsonNode;

/**
 * {@code distill follow ID}: events and a progress bar until the job ends. Ctrl-C only detaches
 * (the job goes on). Exit code: 0 succeeded, 1 failed, 3 cancelled, 130 detached.
 */
@Command(name = "follow", description = "Follow a job's events and progress until it ends.")
final class FollowCommand implements Callable<Integer> {

  @Mixin Connection conn;
  @Spec CommandSpec spec;

  @Parameters(paramLabel = "ID")
  String id;

  @Override
  public Integer call() throws Exception {
    Thread main = Thread.currentThread();
    Thread hook =
        new Thread(
            () -> {
              spec.commandLine().getOut().println();
              spec.commandLine()
                  .getOut()
                  .println("detached; the job goes on (distill follow " + id + ")");
              spec.commandLine().getOut().flush();
              main.interrupt();
            });
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      // -o json: no progress lines, only the job as JSON once it has ended (for scripts)
      boolean json = conn.json();
      java.io.PrintWriter progress =
          json ? new java.io.PrintWriter(java.io.Writer.nullWriter()) : spec.commandLine().getOut();
      JsonNode job =
          new JobFollower(conn.jobs(), progress, !json && System.console() != null, null)
              .follow(id);
      if (json) {
        JobCommands.printJson(spec.commandLine().getOut(), job);
      }
      return JobFollower.exitCode(job);
    } catch (InterruptedException e) {
      return 130;
    } finally {
      // an error (unknown job, bad token) must not print "detached" at exit
      removeHook(hook);
    }
  }

  private static void removeHook(Thread hook) {
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException shuttingDown) {
      // Ctrl-C: the hook is running
    }
  }
}
