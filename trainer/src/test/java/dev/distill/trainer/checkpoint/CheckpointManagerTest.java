package dev.distill.trainer.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointManagerTest {

  @TempDir Path root;

  private static TrainerState state(long step) {
    return new TrainerState(
        TrainerState.FORMAT_VERSION, step, 0, step * 2, 7, step * 100, "abc", Map.of("loss", 1.5));
  }

  private static CheckpointManager.Payload payload(String text) {
    return dir -> {
      Files.writeString(dir.resolve("model.safetensors"), text);
      Files.createDirectories(dir.resolve("sub"));
      Files.writeString(dir.resolve("sub/optimizer.bin"), text + "-opt");
    };
  }

  @Test
  void savesVerifiesAndKeepsTheLastN() {
    CheckpointManager m = new CheckpointManager(root, 2);
    for (long step = 10; step <= 40; step += 10) {
      m.save(state(step), payload("w" + step));
    }
    assertThat(m.list())
        .extracting(p -> p.getFileName().toString())
        .containsExactly("step-000030", "step-000040");
    Checkpoint latest = m.latest().orElseThrow();
    assertThat(latest.step()).isEqualTo(40);
    assertThat(latest.state()).isEqualTo(state(40));
    assertThat(latest.sizeBytes()).isPositive();
    assertThat(latest.sha256()).hasSize(64);
    assertThat(root.resolve(".step-000040.tmp")).doesNotExist();
  }

  @Test
  void refusesAModifiedFileNamingIt() throws Exception {
    CheckpointManager m = new CheckpointManager(root, 3);
    Checkpoint c = m.save(state(5), payload("weights"));
    Files.writeString(c.dir().resolve("sub/optimizer.bin"), "tampered");
    assertThatThrownBy(() -> CheckpointManager.load(c.dir()))
        .isInstanceOf(CheckpointException.class)
        .hasMessageContaining("sub/optimizer.bin")
        .hasMessageContaining("SHA-256 mismatch");
  }

  @Test
  void refusesMissingAndUnlistedFiles() throws Exception {
    CheckpointManager m = new CheckpointManager(root, 3);
    Checkpoint c = m.save(state(5), payload("weights"));
    Files.writeString(c.dir().resolve("extra.txt"), "x");
    assertThatThrownBy(() -> CheckpointManager.load(c.dir())).hasMessageContaining("extra.txt");
    Files.delete(c.dir().resolve("extra.txt"));
    Files.delete(c.dir().resolve("model.safetensors"));
    assertThatThrownBy(() -> CheckpointManager.load(c.dir()))
        .hasMessageContaining("model.safetensors")
        .hasMessageContaining("missing");
  }

  @Test
  void ignoresAnIncompleteDirectory() throws Exception {
    CheckpointManager m = new CheckpointManager(root, 3);
    m.save(state(5), payload("a"));
    Files.createDirectories(root.resolve("step-000009"));
    Files.writeString(root.resolve("step-000009/model.safetensors"), "half");
    assertThat(m.latest().orElseThrow().step()).isEqualTo(5);
  }

  @Test
  void rejectsNonPositiveKeep() {
    assertThatThrownBy(() -> new CheckpointManager(root, 0))
        .hasMessageContaining("keep_checkpoints");
  }

  @Test
  void prunedDirectoriesAreReportedWithTheNextCheckpoint() {
    CheckpointManager m = new CheckpointManager(root, 2);
    assertThat(m.save(state(10), payload("a")).deleted()).isEmpty();
    assertThat(m.save(state(20), payload("b")).deleted()).isEmpty();
    assertThat(m.save(state(30), payload("c")).deleted())
        .containsExactly(root.resolve("step-000010"));
    assertThat(m.save(state(40), payload("d")).deleted())
        .containsExactly(root.resolve("step-000020"));
  }

  @Test
  void resumingSetsADamagedNewestCheckpointAsideAndFallsBackToTheNewestValidOne() throws Exception {
    CheckpointManager m = new CheckpointManager(root, 5);
    for (long step = 10; step <= 40; step += 10) {
      m.save(state(step), payload("w" + step));
    }
    Files.writeString(root.resolve("step-000040/model.safetensors"), "bit rot");
    Files.delete(root.resolve("step-000030/sub/optimizer.bin"));

    CheckpointManager resumed = new CheckpointManager(root, 5);
    List<CheckpointManager.Skipped> skipped = new ArrayList<>();
    Checkpoint c = resumed.latestValid(skipped::add).orElseThrow();

    assertThat(c.step()).isEqualTo(20);
    assertThat(skipped)
        .extracting(CheckpointManager.Skipped::dir)
        .containsExactly(root.resolve("step-000040"), root.resolve("step-000030"));
    assertThat(skipped.get(0).reason())
        .contains("step-000040/model.safetensors")
        .contains("SHA-256 mismatch");
    assertThat(skipped.get(1).reason()).contains("sub/optimizer.bin").contains("missing");
    // set aside, not deleted: kept for inspection, but no longer a checkpoint
    assertThat(root.resolve(".step-000040.damaged/model.safetensors")).hasContent("bit rot");
    assertThat(resumed.list())
        .extracting(p -> p.getFileName().toString())
        .containsExactly("step-000010", "step-000020");
    // the next checkpoint reports them gone, except one written anew at the same step
    assertThat(resumed.save(state(30), payload("again")).deleted())
        .containsExactly(root.resolve("step-000040"));
    assertThat(resumed.save(state(35), payload("x")).deleted()).isEmpty();
  }

  @Test
  void whenNoCheckpointVerifiesResumingFailsNamingEachAndSetsNothingAside() throws Exception {
    CheckpointManager m = new CheckpointManager(root, 5);
    m.save(state(1), payload("a"));
    m.save(state(2), payload("b"));
    Files.writeString(root.resolve("step-000001/model.safetensors"), "x");
    Files.writeString(root.resolve("step-000002/model.safetensors"), "y");
    List<CheckpointManager.Skipped> skipped = new ArrayList<>();
    assertThatThrownBy(() -> m.latestValid(skipped::add))
        .isInstanceOf(CheckpointException.class)
        .hasMessageContaining("no checkpoint under " + root + " verifies")
        .hasMessageContaining("step-000001/model.safetensors")
        .hasMessageContaining("step-000002/model.safetensors");
    assertThat(skipped).isEmpty();
    assertThat(m.list()).hasSize(2);
    assertThat(new CheckpointManager(root.resolve("none"), 1).latestValid(skipped::add)).isEmpty();
  }
}
