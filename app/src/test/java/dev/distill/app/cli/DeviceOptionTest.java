package dev.distill.app.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --device cuda} on a machine whose libtorch sees no GPU (this one): one line and a non-zero
 * exit from worker, train and logits, before anything is started.
 */
class DeviceOptionTest {

  private static void oneLine(LogitsCommandTest.Run r, String device) {
    assertThat(r.code()).as(r.out()).isEqualTo(1);
    // the engine's own log lines may come first; the error is the last line, whole
    String[] lines = r.err().strip().split("\n");
    assertThat(lines[lines.length - 1])
        .startsWith("distill: device " + device + ": the PyTorch engine sees 0 CUDA devices")
        .contains("docker/worker-cuda.Dockerfile");
    assertThat(r.err()).containsOnlyOnce("distill: ");
  }

  @Test
  void workerTrainAndLogitsRefuseAMissingCudaDevice(@TempDir Path dir) {
    oneLine(
        LogitsCommandTest.run(
            "worker",
            "--url",
            "http://127.0.0.1:1",
            "--token",
            "t",
            "--metrics-port",
            "-1",
            "--device",
            "cuda"),
        "cuda");
    oneLine(
        LogitsCommandTest.run(
            "train",
            ExamplesTest.examples().resolve("finetune.json").toString(),
            "--out",
            dir.resolve("out").toString(),
            "--device",
            "cuda:1"),
        "cuda:1");
    oneLine(
        LogitsCommandTest.run(
            "logits", "--model", dir.toString(), "--tokens", "1,2", "--device", "cuda"),
        "cuda");
  }

  @Test
  void aBadDeviceNameIsOneLine() {
    LogitsCommandTest.Run r =
        LogitsCommandTest.run(
            "worker", "--url", "http://127.0.0.1:1", "--token", "t", "--device", "tpu");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err().strip()).isEqualTo("distill: device must be cpu, cuda or cuda:N, was 'tpu'");
  }
}
