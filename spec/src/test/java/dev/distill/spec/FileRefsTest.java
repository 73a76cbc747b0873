package dev.distill.spec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The one file: rule the service and the worker share. */
class FileRefsTest {

  @TempDir Path tmp;

  @Test
  void realPathsDecide() throws Exception {
    Path root = Files.createDirectories(tmp.resolve("data"));
    Path store = Files.createDirectories(root.resolve("artifacts/jobs/j1"));
    Path outside = Files.createDirectories(tmp.resolve("secret"));
    Files.createSymbolicLink(root.resolve("out"), outside);
    Files.createSymbolicLink(root.resolve("in-store"), store);
    List<Path> roots = List.of(root);
    Path artifacts = root.resolve("artifacts");

    assertThat(FileRefs.problem("file:" + root.resolve("models/m"), roots, artifacts)).isNull();
    assertThat(FileRefs.problem("builtin:gemma2-tiny", roots, artifacts)).isNull();
    assertThat(FileRefs.problem("file:" + root.resolve("out/x"), roots, artifacts))
        .contains("allowed root");
    assertThat(FileRefs.problem("file:" + store, roots, artifacts)).contains("artifact store");
    assertThat(FileRefs.problem("file:" + root.resolve("in-store/model"), roots, artifacts))
        .contains("artifact store");
    // the worker knows no roots, only its artifact store
    assertThat(FileRefs.problem("file:" + outside, List.of(), artifacts)).isNull();
    assertThat(FileRefs.realPath(root.resolve("out/not/yet")))
        .isEqualTo(outside.toRealPath().resolve("not/yet"));
  }

  @Test
  void theWorkersCheckNamesTheField() throws Exception {
    Path store = Files.createDirectories(tmp.resolve("artifacts/jobs/j1"));
    JobSpec spec =
        SpecJson.mapper()
            .readValue(
                "{\"type\":\"finetune\",\"student\":\"builtin:gemma2-tiny\","
                    + "\"dataset\":{\"uri\":\"file:"
                    + store
                    + "/data.jsonl\"}}",
                JobSpec.class);
    assertThatThrownBy(() -> FileRefs.requireOutsideArtifactStore(spec, tmp.resolve("artifacts")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("dataset.uri file:" + store)
        .hasMessageContaining("job:");
    FileRefs.requireOutsideArtifactStore(spec, tmp.resolve("elsewhere"));
  }
}
