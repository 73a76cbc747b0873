package dev.distill.trainer.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
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
}
