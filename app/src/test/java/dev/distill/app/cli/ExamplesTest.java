package dev.distill.app.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.spec.JobSpec;
import dev.distill.spec.ModelRef;
import dev.distill.trainer.model.gemma2.Gemma2Config;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The specs in examples/ parse with the shared records and name models this trainer can build. */
class ExamplesTest {

  static Path examples() {
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      if (Files.isDirectory(p.resolve("examples")) && Files.isRegularFile(p.resolve("mvnw"))) {
        return p.resolve("examples");
      }
    }
    throw new IllegalStateException("examples/ not found above " + Path.of("").toAbsolutePath());
  }

  @Test
  void everyExampleParsesAndItsBuiltinModelsExist() throws Exception {
    List<Path> files;
    try (Stream<Path> s = Files.list(examples())) {
      files = s.filter(p -> p.toString().endsWith(".json")).sorted().toList();
    }
    assertThat(files)
        .extracting(p -> p.getFileName().toString())
        .contains(
            "teacher.json", "distill.json", "finetune.json", "evaluate.json", "synthesize.json");
    for (Path f : files) {
      JobSpec spec = SpecFiles.read(f);
      for (ModelRef ref : new ModelRef[] {spec.teacher(), spec.student()}) {
        if (ref != null && ref.isBuiltin()) {
          assertThat(Gemma2Config.PRESETS).as(f + ": " + ref.uri()).contains(ref.target());
          assertThat(Gemma2Config.preset(ref.target()).withOverrides(ref.config()).parameterCount())
              .isPositive();
        }
      }
    }
  }

  /** The tree as a spec, through the same strict reader as {@code submit}. */
  static JobSpec toSpec(tools.jackson.databind.JsonNode tree) throws Exception {
    Path f = Files.createTempFile("spec", ".json");
    try {
      Files.writeString(f, tree.toString());
      return SpecFiles.read(f);
    } finally {
      Files.delete(f);
    }
  }
}
