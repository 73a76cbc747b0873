package dev.distill.app.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code ./distill} command line. Each subcommand is its own class in the package of its
 * feature; this class only lists them. Errors print one line and exit non-zero.
 */
@Command(
    name = "distill",
    mixinStandardHelpOptions = true,
    // --help and --version on every subcommand too
    scope = CommandLine.ScopeType.INHERIT,
    description =
        "Knowledge distillation: train small models on a large model's token distributions.",
    subcommands = {
      // one line per subcommand
      JobCommands.Submit.class,
      JobCommands.List.class,
      JobCommands.Show.class,
      JobCommands.Cancel.class,
      JobCommands.Metrics.class,
      JobCommands.Checkpoints.class,
      FollowCommand.class,
      TokenCommands.class,
      DemoCommand.class,
      ClusterCommand.class,
      LogitsCommand.class,
      PlanCommand.class,
      MergeCommand.class,
      WorkerCommand.class,
      TrainCommand.class,
      ServeCommand.class,
    })
public final class DistillCli implements Runnable {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    System.exit(execute(args));
  }

  /** Runs the command line and returns the exit code (for tests). */
  public static int execute(String... args) {
    CommandLine cli = new CommandLine(new DistillCli());
    cli.setExecutionExceptionHandler(
        (ex, commandLine, parseResult) -> {
          commandLine.getErr().println("distill: " + oneLine(ex));
          return 1;
        });
    return cli.execute(args);
  }

  static String oneLine(Throwable ex) {
    String msg = ex.getMessage();
    if (msg == null || msg.isBlank()) {
      msg = ex.getClass().getSimpleName();
    }
    return msg.replace('\n', ' ');
  }

  @Override
  public void run() {
    spec.commandLine().usage(System.err);
  }
}
