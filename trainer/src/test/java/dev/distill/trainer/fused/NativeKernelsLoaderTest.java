package dev.distill.trainer.fused;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How {@link NativeKernels} finds and loads the library: the trainer's build puts it into the
 * classes at {@link NativeKernels#RESOURCE}, linked so that it binds to the libtorch and libgomp
 * DJL loaded (no RPATH, only their sonames NEEDed, every symbol bound at load); the CPU check
 * before any load; the operator's off switch. The kernels themselves: {@code NativeKernelsTest}.
 */
class NativeKernelsLoaderTest {

  private static final long DT_NEEDED = 1;
  private static final long DT_RPATH = 15;
  private static final long DT_RUNPATH = 29;
  private static final long DT_FLAGS = 30;
  private static final long DT_FLAGS_1 = 0x6ffffffbL;
  private static final long DF_BIND_NOW = 0x8;
  private static final long DF_1_NOW = 0x1;

  private static final Path BUILT = Path.of("target/classes" + NativeKernels.RESOURCE);

  @Test
  void theBuildPutsTheLibraryIntoTheClassesAtTheResourcePath() {
    assertThat(BUILT).as("built by build.sh at process-classes (gcc present)").isRegularFile();
    assertThat(NativeKernels.class.getResource(NativeKernels.RESOURCE)).isNotNull();
  }

  @Test
  void theLibraryNeedsOnlyLibtorchsAndLibgompsSonamesAndHasNoRunpath() throws IOException {
    Dynamic d = dynamic(Files.readAllBytes(BUILT));
    assertThat(d.tags).as("RPATH / RUNPATH").doesNotContain(DT_RPATH, DT_RUNPATH);
    assertThat(d.needed)
        .as("NEEDED: the loader matches these sonames against what DJL loaded")
        .contains("libtorch_cpu.so", "libgomp.so.1", "libc.so.6")
        .isSubsetOf("libtorch_cpu.so", "libgomp.so.1", "libc.so.6", "libm.so.6");
    assertThat((d.flags & DF_BIND_NOW) != 0 || (d.flags1 & DF_1_NOW) != 0)
        .as("-z now: a missing libtorch symbol fails System.load, not the first call")
        .isTrue();
  }

  @Test
  void aCpuWithoutAvx2OrFmaIsRefusedBeforeAnyLoad(@TempDir Path dir) throws IOException {
    Path v3 = dir.resolve("v3");
    Files.writeString(
        v3,
        "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 bmi1 bmi2 f16c fma abm movbe xsave\n"
            + "processor\t: 1\nflags\t\t: fpu\n");
    assertThat(NativeKernels.missingCpuFlags(v3)).isEmpty();
    Path sandyBridge = dir.resolve("snb");
    Files.writeString(sandyBridge, "flags\t\t: fpu sse2 sse4_2 avx popcnt xsave\n");
    assertThat(NativeKernels.missingCpuFlags(sandyBridge))
        .containsExactly("abm", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe");
    assertThat(NativeKernels.missingCpuFlags(dir.resolve("absent"))).contains("avx2", "fma");
    assertThat(NativeKernels.missingCpuFlags(Path.of("/proc/cpuinfo")))
        .as("this machine runs NativeKernelsTest")
        .isEmpty();
  }

  @Test
  void theOffSwitchMakesTheKernelsUnavailableWithItsReason() throws Exception {
    // A child JVM: the property is read once per process.
    Process p =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-D" + NativeKernels.SWITCH + "=false",
                "-cp",
                System.getProperty("java.class.path"),
                Probe.class.getName())
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    assertThat(p.waitFor()).as(out).isZero();
    assertThat(out.lines().toList())
        .containsExactly(
            "available=false",
            "reason=native kernels unavailable: switched off by -Ddistill.native_kernels=false",
            "load=native kernels unavailable: switched off by -Ddistill.native_kernels=false",
            "mapped=false");
  }

  /** The child JVM of the off-switch test. */
  static final class Probe {
    public static void main(String[] args) throws IOException {
      System.out.println("available=" + NativeKernels.available());
      System.out.println("reason=" + NativeKernels.unavailableReason().orElse("(none)"));
      try {
        NativeKernels.load();
        System.out.println("load=returned");
      } catch (IllegalStateException e) {
        System.out.println("load=" + e.getMessage());
      }
      System.out.println(
          "mapped=" + Files.readString(Path.of("/proc/self/maps")).contains("libdistill_ops"));
    }
  }

  private record Dynamic(Set<Long> tags, List<String> needed, long flags, long flags1) {}

  /** The dynamic section of a little-endian ELF64 shared object, read by its section headers. */
  private static Dynamic dynamic(byte[] elf) {
    ByteBuffer b = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
    assertThat(new String(elf, 1, 3, StandardCharsets.US_ASCII)).isEqualTo("ELF");
    assertThat(elf[4]).as("ELFCLASS64").isEqualTo((byte) 2);
    assertThat(elf[5]).as("little-endian").isEqualTo((byte) 1);
    assertThat(b.getShort(18)).as("EM_X86_64").isEqualTo((short) 62);
    long shoff = b.getLong(0x28);
    int shentsize = Short.toUnsignedInt(b.getShort(0x3A));
    int shnum = Short.toUnsignedInt(b.getShort(0x3C));
    for (int i = 0; i < shnum; i++) {
      int sh = (int) (shoff + (long) i * shentsize);
      if (b.getInt(sh + 4) != 6) { // SHT_DYNAMIC
        continue;
      }
      int off = (int) b.getLong(sh + 0x18);
      int size = (int) b.getLong(sh + 0x20);
      int strtab = (int) (shoff + (long) b.getInt(sh + 0x28) * shentsize); // sh_link: .dynstr
      int strOff = (int) b.getLong(strtab + 0x18);
      Set<Long> tags = new java.util.TreeSet<>();
      List<String> needed = new ArrayList<>();
      long flags = 0;
      long flags1 = 0;
      for (int e = off; e + 16 <= off + size; e += 16) {
        long tag = b.getLong(e);
        long val = b.getLong(e + 8);
        if (tag == 0) {
          break; // DT_NULL
        }
        tags.add(tag);
        if (tag == DT_NEEDED) {
          int s = strOff + (int) val;
          int end = s;
          while (elf[end] != 0) {
            end++;
          }
          needed.add(new String(elf, s, end - s, StandardCharsets.US_ASCII));
        } else if (tag == DT_FLAGS) {
          flags = val;
        } else if (tag == DT_FLAGS_1) {
          flags1 = val;
        }
      }
      return new Dynamic(tags, needed, flags, flags1);
    }
    throw new AssertionError("no dynamic section");
  }
}
