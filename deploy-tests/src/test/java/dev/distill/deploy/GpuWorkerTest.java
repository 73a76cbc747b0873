package dev.distill.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The CUDA worker image (docker/worker-cuda.Dockerfile, never built here: no Docker, no GPU) read
 * as text against the build's versions and the chart; the chart's GPU pool rendered by helm.
 */
class GpuWorkerTest {

  private static String dockerfile() throws IOException {
    return Files.readString(Repo.root().resolve("docker").resolve("worker-cuda.Dockerfile"));
  }

  private static String pomProperty(String name) throws IOException {
    Matcher m =
        Pattern.compile("<" + Pattern.quote(name) + ">([^<]+)</")
            .matcher(Files.readString(Repo.root().resolve("pom.xml")));
    assertThat(m.find()).as("pom.xml property %s", name).isTrue();
    return m.group(1).strip();
  }

  private static String env(String text, String name) {
    Matcher m = Pattern.compile("\\b" + name + "=(\\S+)").matcher(text);
    assertThat(m.find()).as("ENV %s in worker-cuda.Dockerfile", name).isTrue();
    return m.group(1);
  }

  @Test
  void theImagesLibtorchIsThePyTorchVersionOfTheBuildsJni() throws IOException {
    String d = dockerfile();
    // pytorch-jni 2.7.1-0.36.0: the JNI is built against libtorch 2.7.1
    String torch = pomProperty("pytorch.jni.version").split("-")[0];
    assertThat(pomProperty("pytorch.native.version")).isEqualTo(torch);
    assertThat(env(d, "PYTORCH_VERSION")).isEqualTo(torch);
    assertThat(d).contains("torch==" + torch + " --index-url https://download.pytorch.org/whl/");
    String flavor = env(d, "PYTORCH_FLAVOR");
    assertThat(d).contains("download.pytorch.org/whl/" + flavor);
    // DJL's JNI for that flavour ships in the pytorch-jni jar the build resolves
    Path jni =
        Path.of(
            System.getProperty("user.home"),
            ".m2/repository/ai/djl/pytorch/pytorch-jni",
            pomProperty("pytorch.jni.version"),
            "pytorch-jni-" + pomProperty("pytorch.jni.version") + ".jar");
    try (var zip = new java.util.zip.ZipFile(jni.toFile())) {
      assertThat(zip.getEntry("jnilib/linux-x86_64/" + flavor + "/libdjl_torch.so"))
          .as("the %s JNI in %s", flavor, jni)
          .isNotNull();
    }
  }

  @Test
  void libtorchSitsWhereDjlIsToldToLookAndTheCpuBuildIsLeftOut() throws IOException {
    String d = dockerfile();
    String lib = env(d, "PYTORCH_LIBRARY_PATH");
    assertThat(lib).endsWith("/torch/lib");
    assertThat(d).contains("COPY --from=torch " + lib + "/ " + lib + "/");
    String site = lib.substring(0, lib.length() - "/torch/lib".length());
    assertThat(d).contains("COPY --from=torch " + site + "/nvidia/ " + site + "/nvidia/");
    assertThat(d).contains("--target " + site);
    assertThat(d).contains("rm -f /opt/distill/lib/pytorch-native-cpu-*.jar");
    // the same jars and entrypoint as the CPU image, as the same non-root user
    String cpu = Files.readString(Repo.root().resolve("docker").resolve("worker.Dockerfile"));
    for (String line :
        List.of(
            "COPY --from=build /src/app/target/lib/ /opt/distill/lib/",
            "COPY --from=build /src/app/target/distill-app.jar /opt/distill/distill-app.jar",
            "COPY docker/worker-entrypoint.sh /opt/distill/bin/distill",
            "USER 10001:10001",
            "FROM eclipse-temurin:17-jre")) {
      assertThat(cpu).contains(line);
      assertThat(d).contains(line);
    }
    assertThat(d).contains("CMD [\"worker\", \"--device\", \"cuda\"");
  }

  @Test
  void theGpuPoolUsesTheCudaImageAndOneNvidiaGpuPerPod() {
    Rendered r = Rendered.render(Map.of("gpuWorker.enabled", true));
    Deployment gpu = r.one(Deployment.class, "gpu-worker");
    PodSpec pod = gpu.getSpec().getTemplate().getSpec();
    Container c = pod.getContainers().get(0);
    assertThat(c.getImage()).startsWith("distill/worker-cuda:");
    assertThat(WorkerManifestTest.arg(c, "--device")).isEqualTo("cuda");
    assertThat(c.getArgs()).doesNotContain("--memory-mb"); // read from the GPU
    assertThat(c.getResources().getLimits()).containsEntry("nvidia.com/gpu", new Quantity("1"));
    assertThat(c.getResources().getRequests()).containsEntry("nvidia.com/gpu", new Quantity("1"));
    assertThat(pod.getTolerations()).anyMatch(t -> "nvidia.com/gpu".equals(t.getKey()));
    // the CPU pool is still there and selects only its own pods
    Deployment cpu = r.one(Deployment.class, "worker");
    assertThat(cpu.getSpec().getSelector().getMatchLabels())
        .isNotEqualTo(gpu.getSpec().getSelector().getMatchLabels());
    assertThat(WorkerManifestTest.arg(WorkerManifestTest.worker(cpu), "--device")).isEqualTo("cpu");
    // off by default
    assertThat(Rendered.render().all(Deployment.class))
        .noneMatch(d -> d.getMetadata().getName().endsWith("-gpu-worker"));
  }

  @Test
  void theSchemaRefusesAGpuPoolOnTheCpu() {
    Map<String, Object> sets = new java.util.LinkedHashMap<>();
    sets.put("service.database.url", Rendered.DB_URL);
    sets.put("gpuWorker.device", "cpu");
    assertThatThrownBy(() -> Rendered.template(sets)).hasMessageContaining("/gpuWorker/device");
  }

  private static String envValue(Container c, String name) {
    return c.getEnv().stream()
        .filter(e -> name.equals(e.getName()))
        .map(e -> e.getValue())
        .findFirst()
        .orElse(null);
  }

  @Test
  void theGpuPoolTurnsTf32OnForFp32MatmulsUnlessToldNot() {
    Container on =
        Rendered.render(Map.of("gpuWorker.enabled", true))
            .one(Deployment.class, "gpu-worker")
            .getSpec()
            .getTemplate()
            .getSpec()
            .getContainers()
            .get(0);
    assertThat(envValue(on, "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE")).isEqualTo("1");
    Container off =
        Rendered.render(Map.of("gpuWorker.enabled", true, "gpuWorker.tf32", false))
            .one(Deployment.class, "gpu-worker")
            .getSpec()
            .getTemplate()
            .getSpec()
            .getContainers()
            .get(0);
    assertThat(envValue(off, "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE")).isEqualTo("0");
    Container cpu = WorkerManifestTest.worker(Rendered.render().one(Deployment.class, "worker"));
    assertThat(envValue(cpu, "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE")).isNull();
  }

  /**
   * The entrypoint of both worker images, run with a stand-in {@code java} that prints the
   * variable: set to 1 for a CUDA device (libtorch reads it once at start, so the process cannot
   * set it later), absent otherwise, and the caller's own value kept.
   */
  @Test
  void theEntrypointSetsTf32ForCudaDevicesOnly(@org.junit.jupiter.api.io.TempDir Path tmp)
      throws Exception {
    Path java = tmp.resolve("java");
    Files.writeString(
        java, "#!/bin/sh\necho \"tf32=${TORCH_ALLOW_TF32_CUBLAS_OVERRIDE:-unset}\"\n");
    java.toFile().setExecutable(true);
    assertThat(entrypoint(tmp, null, "worker", "--device", "cuda")).isEqualTo("tf32=1");
    assertThat(entrypoint(tmp, null, "train", "spec.json", "--device=cuda:1")).isEqualTo("tf32=1");
    assertThat(entrypoint(tmp, null, "worker", "--device", "cpu")).isEqualTo("tf32=unset");
    assertThat(entrypoint(tmp, null, "worker")).isEqualTo("tf32=unset");
    assertThat(entrypoint(tmp, "0", "worker", "--device", "cuda")).isEqualTo("tf32=0");
  }

  private static String entrypoint(Path bin, String tf32, String... args) throws Exception {
    List<String> cmd = new java.util.ArrayList<>();
    cmd.add("sh");
    cmd.add(Repo.root().resolve("docker/worker-entrypoint.sh").toString());
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().put("PATH", bin + ":" + System.getenv("PATH"));
    pb.environment().remove("TORCH_ALLOW_TF32_CUBLAS_OVERRIDE");
    if (tf32 != null) {
      pb.environment().put("TORCH_ALLOW_TF32_CUBLAS_OVERRIDE", tf32);
    }
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes()).strip();
    assertThat(p.waitFor()).as(out).isZero();
    return out;
  }
}
