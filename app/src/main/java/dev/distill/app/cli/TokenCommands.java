package dev.distill.app.cli;

import dev.distill.app.console.Tables;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import tools.jackson.databind.JsonNode;

/** {@code distill token ...}: API tokens, through {@code /v1/tokens} (admin tokens only). */
@Command(
    name = "token",
    description = "Manage API tokens (needs an admin token).",
    subcommands = {
      TokenCommands.Create.class,
      TokenCommands.List.class,
      TokenCommands.Revoke.class
    })
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

    @Option(
        names = "--project",
        description =
            "The project it is bound to: the caller's own (the default; others are refused).")
    String project;

    @Option(
        names = "--ttl",
        description = "How long it stays valid, ISO-8601 (PT12H, P30D); default: no expiry.")
    String ttl;

    @Override
    public Integer call() {
      JsonNode created = conn.tokens().create(name, role, project, ttl);
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

  @Command(name = "list", description = "List the project's tokens (never their secrets).")
  static final class List implements Callable<Integer> {
    @Mixin Connection conn;
    @Spec CommandSpec spec;

    @Override
    public Integer call() {
      JsonNode body = conn.tokens().list();
      PrintWriter out = spec.commandLine().getOut();
      if (conn.json()) {
        JobCommands.printJson(out, body);
      } else {
        Tables.print(
            out,
            body.path("items"),
            "ID",
            "id",
            "NAME",
            "name",
            "ROLE",
            "role",
            "CREATED",
            "created_at",
            "LAST USED",
            "last_used_at",
            "EXPIRES",
            "expires_at");
      }
      out.flush();
      return 0;
    }
  }

  @Command(name = "revoke", description = "Revoke a token: it is refused from its next request.")
  static final class Revoke implements Callable<Integer> {
    @Mixin Connection conn;
    @Spec CommandSpec spec;

    @Parameters(paramLabel = "ID", description = "The token's id (from token list).")
    String id;

    @Override
    public Integer call() {
      conn.tokens().revoke(id);
      spec.commandLine().getErr().println("token " + id + " revoked");
      return 0;
    }
  }
}
