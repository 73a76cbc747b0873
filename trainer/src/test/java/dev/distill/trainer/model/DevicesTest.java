package dev.distill.trainer.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.Device;
import ai.djl.engine.Engine;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Device names and device memory, on this CPU-only machine (its libtorch is the CPU build). */
class DevicesTest {

  @Test
  void cpuIsTheCpuAndBadNamesAreRefused() {
    assertThat(Devices.parse("cpu")).isEqualTo(Device.cpu());
    assertThat(Devices.parse("CPU")).isEqualTo(Device.cpu());
    assertThat(Devices.kind(Device.cpu())).isEqualTo("cpu");
    assertThat(Devices.kind(Device.gpu(1))).isEqualTo("cuda");
    assertThatThrownBy(() -> Devices.parse("gpu"))
        .hasMessage("device must be cpu, cuda or cuda:N, was 'gpu'");
    assertThatThrownBy(() -> Devices.parse("cuda:x"))
        .hasMessage("device must be cpu, cuda or cuda:N, was 'cuda:x'");
  }

  @Test
  void tf32IsReportedForFp32OnCudaOnly() {
    var on = java.util.Map.of(Devices.TF32_VARIABLE, "1");
    var fp32 = dev.distill.spec.plan.Precision.FP32;
    assertThat(Devices.tf32(Device.gpu(0), fp32, on)).startsWith("fp32 matmuls on TF32");
    assertThat(Devices.tf32(Device.gpu(0), fp32, java.util.Map.of()))
        .isEqualTo("fp32 matmuls in full fp32 (TORCH_ALLOW_TF32_CUBLAS_OVERRIDE is not 1)");
    assertThat(Devices.tf32(Device.gpu(0), fp32, java.util.Map.of(Devices.TF32_VARIABLE, "0")))
        .startsWith("fp32 matmuls in full fp32");
    assertThat(Devices.tf32(Device.cpu(), fp32, on)).isNull();
    assertThat(Devices.tf32(Device.gpu(0), dev.distill.spec.plan.Precision.BF16_MIXED, on))
        .isNull();
  }

  @Test
  void aCudaDeviceThatIsNotThereIsOneLine() {
    // this machine's engine sees no GPU: the test asserts that, rather than skipping on a GPU host
    assertThat(Engine.getEngine("PyTorch").getGpuCount()).isZero();
    for (String name : new String[] {"cuda", "cuda:0", "cuda:3"}) {
      assertThatThrownBy(() -> Devices.parse(name))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageStartingWith("device " + name + ": the PyTorch engine sees 0 CUDA devices")
          .hasMessageNotContaining("\n");
    }
  }

  @Test
  void cpuMemoryIsPhysicalMemoryOrTheCgroupLimit(@TempDir Path dir) throws Exception {
    long total = Devices.totalMemoryBytes(Device.cpu());
    long memTotal = 0;
    for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
      if (line.startsWith("MemTotal:")) {
        memTotal = Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
      }
    }
    assertThat(total).isPositive().isLessThanOrEqualTo(memTotal);
    Path v2 = dir.resolve("memory.max");
    Files.writeString(v2, "max\n");
    assertThat(Devices.cgroupLimit(v2)).isEqualTo(Long.MAX_VALUE);
    Files.writeString(v2, "8589934592\n");
    assertThat(Devices.cgroupLimit(v2)).isEqualTo(8L << 30);
    assertThat(Devices.cgroupLimit(dir.resolve("absent"))).isEqualTo(Long.MAX_VALUE);
  }
}
