package dev.distill.app.cli;

import dev.distill.app.demo.DemoPlan;
import dev.distill.app.demo.DemoRun;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code ./distill demo}: the product end to end on one machine. Starts the service (embedded
 * PostgreSQL) and one worker as separate processes, then through the REST API finetunes a teacher
 * from scratch, distills a smaller student from it, trains the same student from scratch as the
 * baseline, evaluates all three and writes the report.
 */
@Command(
    name = "demo",
    description =
        "Run the demo: teacher, distilled student and baseline through the service, with a report.")
public final class DemoCommand implements Callable<Integer> {

  @Spec CommandSpec spec;

  @Option(names = "--out", description = "Output folder (default ./distill-demo).")
  Path out = Path.of("distill-demo");

  @Option(
      names = "--home",
      description =
          "DISTILL_HOME of the demo's service: its database and artifacts (default ~/.distill).")
  Path home;

  @Option(names = "--quick", description = "A tiny run that checks the plumbing, not the result.")
  boolean quick;

  @Option(
      names = "--seed",
      description =
          "Seed of the data, the split, the initialisations and the data order (default 1234);"
              + " other seeds show how much the result varies.")
  Long seed;

  @Option(
      names = "--seeds",
      description =
          "Run this many seeds (the --seed and the ones after it) and report each model's mean"
              + " and spread and the distilled-minus-baseline difference's; a longer run"
              + " (default 1).")
  int seeds = 1;

  @Option(
      names = "--set",
      description =
          "Replace a setting of the plan for an experiment, NAME=VALUE (DemoPlan's names, for"
              + " example studentSteps=1200); repeatable.")
  Map<String, String> overrides = new LinkedHashMap<>();

  @Override
  public Integer call() throws Exception {
    DemoPlan plan = quick ? DemoPlan.quick() : DemoPlan.standard();
    if (seed != null) {
      plan = plan.withSeed(seed);
    }
    if (!overrides.isEmpty()) {
      plan = plan.with(overrides);
    }
    if (seeds < 1) {
      throw new IllegalArgumentException("--seeds must be at least 1, was " + seeds);
    }
    return DemoRun.run(
        spec.commandLine().getOut(), plan, out, home != null ? home : Connection.home(), seeds);
  }
}
