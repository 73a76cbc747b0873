package dev.distill.app.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import tools.jackson.databind.JsonNode;

/** {@code distill token ...}: API tokens, through {@code /v1/tokens} (admin tokens only). */
@Command(
    name = "token",
    description = "Manage API tokens (needs an admin token).",
    subcommands = {TokenCommands.Create.class})
final class TokenCommands implements Runnable {

  @Spec CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getErr());
  }

  @Command(
      name = "create",
      description =
          "Create a token; prints it (shown only once, the service keeps its hash). For a worker:"
              + " distill token create --role worker --name gpu-pool.")
  static final class Create implements Callable<Integer> {
    @Mixin Connection conn;
    @Spec CommandSpec spec;

    @Option(names = "--role", required = true, description = "admin, member, viewer or worker.")
    String role;

    @Option(names = "--name", required = true, description = "What the token is for.")
    String name;

    @Option(names = "--project", description = "The project it is bound to (default the caller's).")
    String project;

    @Override
    public Integer call() {
      JsonNode created = conn.tokens().create(name, role, project);
      PrintWriter out = spec.commandLine().getOut();
      if (conn.json()) {
        JobCommands.printJson(out, created);
      } else {
        // the token alone on stdout, so WORKER_TOKEN=$(distill token create ...) works
        out.println(created.path("token").asString());
        spec.commandLine()
            .getErr()
            .println(
                "token '"
                    + created.path("name").asString()
                    + "' ("
                    + created.path("role").asString()
                    + ", project "
                    + created.path("project").asString()
                    + "): keep it, it is not shown again");
      }
      out.flush();
      return 0;
    }
  }
}
