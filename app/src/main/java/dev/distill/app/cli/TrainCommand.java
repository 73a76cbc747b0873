package dev.distill.app.cli;

import dev.distill.spec.JobSpec;
import dev.distill.spec.JobType;
import dev.distill.trainer.checkpoint.Checkpoint;
import dev.distill.trainer.recipe.Recipes;
import dev.distill.trainer.recipe.RunContext;
import dev.distill.trainer.recipe.RunResult;
import dev.distill.trainer.recipe.StepMetrics;
import dev.distill.trainer.recipe.StopSignal;
import dev.distill.trainer.recipe.TrainingListener;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code distill train SPEC --out DIR}: runs a job spec locally, without the service, with the same
 * records and recipe the worker uses. Running it again with the same DIR resumes from the newest
 * checkpoint.
 */
@Command(
    name = "train",
    description = "Run a job spec locally (no service); resumes from DIR's checkpoints.")
public final class TrainCommand implements Callable<Integer> {

  @Spec CommandSpec spec;

  @Parameters(paramLabel = "SPEC", description = "Job spec, JSON or YAML.")
  Path specFile;

  @Option(
      names = "--out",
      required = true,
      description = "Output directory (checkpoints under DIR/checkpoints).")
  Path out;

  @Option(
      names = "--artifact",
      description = "Local directory of a job: reference, ID=DIR; repeatable.")
  Map<String, Path> artifacts = new HashMap<>();

  @Option(
      names = "--device",
      description = "cpu, cuda or cuda:N (default: the first GPU the engine sees, else cpu).")
  String device;

  @Override
  public Integer call() throws Exception {
    JobSpec job = SpecFiles.read(specFile);
    if (device != null) {
      dev.distill.trainer.model.Devices.parse(device); // one line when it is not there
    }
    PrintWriter o = spec.commandLine().getOut();
    TrainingListener printer =
        new TrainingListener() {
          @Override
          public void onEvent(String type, String message) {
            o.println(type + ": " + message);
            o.flush();
          }

          @Override
          public void onStep(StepMetrics m) {
            if (m.step() == 1 || m.step() % 10 == 0 || m.step() == m.maxSteps()) {
              o.println(
                  String.format(
                      Locale.ROOT,
                      "step %d/%d loss %.4f ce %.4f%s lr %.2e %.0f tok/s",
                      m.step(),
                      m.maxSteps(),
                      m.loss(),
                      m.ce(),
                      Double.isNaN(m.kd()) ? "" : String.format(Locale.ROOT, " kl %.4f", m.kd()),
                      m.lr(),
                      m.tokensPerSecond()));
              o.flush();
            }
          }

          @Override
          public void onEval(long step, Map<String, Double> metrics) {
            o.println("eval at step " + step + ": " + metrics);
            o.flush();
          }

          @Override
          public void onProgress(long done, Map<String, Double> metrics) {
            o.println("progress after " + done + " samples: " + metrics);
            o.flush();
          }

          @Override
          public void onCheckpoint(Checkpoint c, boolean isFinal) {
            o.println((isFinal ? "final checkpoint " : "checkpoint ") + c.dir());
            o.flush();
          }
        };
    Map<String, Path> dirs = new HashMap<>();
    artifacts.forEach((k, v) -> dirs.put(k, v.toAbsolutePath()));
    RunResult r =
        Recipes.run(
            job,
            new RunContext(
                out.toAbsolutePath(), dirs, printer, StopSignal.NEVER, null, null, device, null));
    String outcome = r.outcome().name().toLowerCase(Locale.ROOT);
    o.println(
        job.type() == JobType.SYNTHESIZE
            ? "done: " + outcome + ", " + r.samples() + " samples written"
            : "done: " + outcome + " at step " + r.step());
    o.flush();
    return 0;
  }
}
