package dev.distill.trainer.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.util.cuda.CudaUtils;
import java.io.IOException;
import java.lang.management.MemoryUsage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The device a run asks for by name ({@code cpu}, {@code cuda}, {@code cuda:N}, as on {@code
 * --device}) and how much memory it has, read from the machine, never typed in.
 */
public final class Devices {

  private Devices() {}

  /**
   * The device of a name, checked against what the PyTorch engine sees: a CUDA device that is not
   * there is one line naming the device and the engine's GPU count.
   *
   * @param name cpu, cuda or cuda:N; null for the engine's choice (the first GPU if any, else CPU)
   */
  public static Device parse(String name) {
    if (name == null) {
      return Engine.getEngine("PyTorch").getGpuCount() > 0 ? Device.gpu() : Device.cpu();
    }
    String n = name.strip().toLowerCase(Locale.ROOT);
    if (n.equals("cpu")) {
      return Device.cpu();
    }
    int index;
    if (n.equals("cuda")) {
      index = 0;
    } else if (n.matches("cuda:\\d{1,3}")) {
      index = Integer.parseInt(n.substring("cuda:".length()));
    } else {
      throw new IllegalArgumentException("device must be cpu, cuda or cuda:N, was '" + name + "'");
    }
    int gpus = Engine.getEngine("PyTorch").getGpuCount();
    if (index >= gpus) {
      throw new IllegalArgumentException(
          "device "
              + n
              + ": the PyTorch engine sees "
              + gpus
              + " CUDA device"
              + (gpus == 1 ? "" : "s")
              + " (this libtorch: "
              + Engine.getEngine("PyTorch").getVersion()
              + ", "
              + (CudaUtils.hasCuda() ? "CUDA runtime found" : "no CUDA runtime")
              + "); a CUDA worker needs the CUDA libtorch of docker/worker-cuda.Dockerfile");
    }
    return Device.gpu(index);
  }

  /**
   * The variable libtorch reads once, at start, to run fp32 cuBLAS matmuls on TF32 tensor cores.
   */
  public static final String TF32_VARIABLE = "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE";

  /**
   * How an fp32 run's matmuls go on a device, for the {@code precision} event: TF32 on CUDA when
   * {@link #TF32_VARIABLE} is 1 (libtorch 2.7.1 reads it when its global context is made: {@code
   * float32_matmul_precision} becomes HIGH, so cuBLAS may use TF32 tensor cores, on Ampere and
   * later GPUs), else full fp32. Nothing for the CPU or other precisions (their matmuls are not
   * fp32 cuBLAS GEMMs). The worker images' entrypoint sets it for a CUDA device (docs/gpu.md).
   *
   * @param env the process environment ({@code System.getenv()})
   * @return a clause for the event, or null when TF32 does not apply
   */
  public static String tf32(
      Device device, dev.distill.spec.plan.Precision precision, java.util.Map<String, String> env) {
    if (!device.isGpu() || precision != dev.distill.spec.plan.Precision.FP32) {
      return null;
    }
    return "1".equals(env.get(TF32_VARIABLE))
        ? "fp32 matmuls on TF32 tensor cores where the GPU has them (" + TF32_VARIABLE + "=1)"
        : "fp32 matmuls in full fp32 (" + TF32_VARIABLE + " is not 1)";
  }

  /** {@code cpu} or {@code cuda}: the kind a worker advertises. */
  public static String kind(Device device) {
    return device.isGpu() ? "cuda" : "cpu";
  }

  /**
   * Total memory of a device in bytes: a GPU's from the CUDA runtime; the CPU's is the machine's
   * physical memory ({@code MemTotal}) or the cgroup's limit when that is lower (a container).
   */
  public static long totalMemoryBytes(Device device) {
    if (device.isGpu()) {
      MemoryUsage u = CudaUtils.getGpuMemory(device);
      return u.getMax();
    }
    long physical = meminfoTotal();
    long limit =
        Math.min(
            cgroupLimit(Path.of("/sys/fs/cgroup/memory.max")),
            cgroupLimit(Path.of("/sys/fs/cgroup/memory/memory.limit_in_bytes")));
    return Math.min(physical, limit);
  }

  private static long meminfoTotal() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
        if (line.startsWith("MemTotal:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
      }
    } catch (IOException | RuntimeException e) {
      // not Linux: fall through to the JVM's view
    }
    if (java.lang.management.ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.OperatingSystemMXBean os) {
      return os.getTotalMemorySize();
    }
    return Runtime.getRuntime().maxMemory();
  }

  /** A cgroup memory limit file's value; Long.MAX_VALUE for none ("max", absent, unreadable). */
  static long cgroupLimit(Path file) {
    try {
      String v = Files.readString(file).strip();
      return v.equals("max") ? Long.MAX_VALUE : Long.parseLong(v);
    } catch (IOException | RuntimeException e) {
      return Long.MAX_VALUE;
    }
  }
}
