package dev.distill.e2e;

import dev.distill.spec.JobSpec;
import dev.distill.trainer.recipe.Recipes;
import dev.distill.trainer.recipe.RunContext;
import dev.distill.trainer.recipe.RunResult;
import dev.distill.trainer.recipe.StepMetrics;
import dev.distill.trainer.recipe.TrainingListener;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentSkipListMap;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.json.JsonMapper;

/**
 * An uninterrupted run of a job spec in this JVM (the recipe the worker runs, without the service):
 * the losses an interrupted and resumed job must reproduce.
 */
final class ReferenceRun {

  private ReferenceRun() {}

  /** Starts the run on its own thread; the future holds step to loss, steps 1..max_steps. */
  static CompletableFuture<TreeMap<Long, Double>> start(String specJson) {
    return CompletableFuture.supplyAsync(
        () -> {
          try {
            JobSpec spec =
                JsonMapper.builder()
                    .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                    .build()
                    .readValue(specJson, JobSpec.class);
            Path out = Files.createTempDirectory("distill-e2e-reference-");
            Map<Long, Double> losses = new ConcurrentSkipListMap<>();
            TrainingListener listener =
                new TrainingListener() {
                  @Override
                  public void onStep(StepMetrics m) {
                    losses.put(m.step(), m.loss());
                  }
                };
            RunResult r = Recipes.run(spec, new RunContext(out, Map.of(), listener, null));
            if (r.outcome() != RunResult.Outcome.COMPLETED) {
              throw new IllegalStateException("reference run ended " + r.outcome());
            }
            return new TreeMap<>(losses);
          } catch (Exception e) {
            throw new IllegalStateException("reference run failed: " + e.getMessage(), e);
          }
        },
        r -> {
          Thread t = new Thread(r, "reference-run");
          t.setDaemon(true);
          t.start();
        });
  }
}
