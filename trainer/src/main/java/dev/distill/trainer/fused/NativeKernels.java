package dev.distill.trainer.fused;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.pytorch.jni.JniUtils;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * The C-shim kernel spike (docs/benchmarks.md, "Fused CPU kernels through libtorch's C shim:
 * spike"): loads {@code libdistill_ops.so} (built by {@code trainer/src/main/native/build.sh} in
 * the trainer's Maven build, a resource of its jar extracted to a temporary file) into this JVM
 * after DJL's libtorch, which registers the custom ops {@code distill::*}, and calls them from a
 * TorchScript module compiled by libtorch at load. {@link #available()} is false, with {@link
 * #unavailableReason()}, off Linux x86-64, on a CPU without AVX2/FMA, in a jar built without gcc,
 * or with {@code -Ddistill.native_kernels=false}.
 *
 * <p>The ops have no autograd formula: each forward returns what its backward needs, and the caller
 * runs the backward by hand. Inputs are detached inside the module, so no autograd record is made.
 */
public final class NativeKernels {

  /**
   * System property naming a library file to load instead of the jar's {@link #RESOURCE} (a build
   * of {@code build.sh} by hand).
   */
  public static final String PROPERTY = "distill.native_ops";

  /** The library in the trainer jar, built by {@code build.sh} at the trainer's process-classes. */
  public static final String RESOURCE = "/native/linux-x86_64/libdistill_ops.so";

  private static final Set<String> X86_64_V3 =
      Set.of("avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe");

  /**
   * The module's code: same class (and forward) as {@code fused_ops.pt}'s frame, whose pickled
   * module object it reuses. Each method detaches and makes its inputs contiguous (a no-op for
   * contiguous ones), then calls the op.
   */
  static final String SOURCE =
      """
      class FusedOps(Module):
        __parameters__ = []
        __buffers__ = []
        training : bool
        _is_full_backward_hook : Optional[bool]
        def forward(self: __torch__.FusedOps,
          gate: Tensor,
          up: Tensor) -> Tensor:
          return ops.distill.geglu_fwd(torch.contiguous(torch.detach(gate)), torch.contiguous(torch.detach(up)))
        def rms_norm_fwd(self: __torch__.FusedOps,
          x: Tensor,
          w: Tensor,
          eps: Tensor) -> Tuple[Tensor, Tensor]:
          return ops.distill.rms_norm_fwd(torch.contiguous(torch.detach(x)), torch.contiguous(torch.detach(w)), float(eps))
        def rms_norm_bwd(self: __torch__.FusedOps,
          dy: Tensor,
          x: Tensor,
          w: Tensor,
          rstd: Tensor) -> Tuple[Tensor, Tensor]:
          return ops.distill.rms_norm_bwd(torch.contiguous(torch.detach(dy)), torch.contiguous(torch.detach(x)), torch.contiguous(torch.detach(w)), torch.contiguous(torch.detach(rstd)))
        def softcap_softmax_fwd(self: __torch__.FusedOps,
          s: Tensor,
          mask: Tensor,
          cap: Tensor) -> Tensor:
          return ops.distill.softcap_softmax_fwd(torch.contiguous(torch.detach(s)), torch.contiguous(torch.detach(mask)), float(cap))
        def softcap_softmax_bwd(self: __torch__.FusedOps,
          dp: Tensor,
          p: Tensor,
          s: Tensor,
          cap: Tensor) -> Tensor:
          return ops.distill.softcap_softmax_bwd(torch.contiguous(torch.detach(dp)), torch.contiguous(torch.detach(p)), torch.contiguous(torch.detach(s)), float(cap))
        def geglu_bwd(self: __torch__.FusedOps,
          dout: Tensor,
          gate: Tensor,
          up: Tensor) -> Tuple[Tensor, Tensor]:
          return ops.distill.geglu_bwd(torch.contiguous(torch.detach(dout)), torch.contiguous(torch.detach(gate)), torch.contiguous(torch.detach(up)))
        def add_rms_norm2_fwd(self: __torch__.FusedOps,
          x: Tensor,
          o: Tensor,
          w1: Tensor,
          w2: Tensor,
          eps: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
          return ops.distill.add_rms_norm2_fwd(torch.contiguous(torch.detach(x)), torch.contiguous(torch.detach(o)), torch.contiguous(torch.detach(w1)), torch.contiguous(torch.detach(w2)), float(eps))
        def add_rms_norm2_bwd(self: __torch__.FusedOps,
          dres: Tensor,
          dy: Tensor,
          o: Tensor,
          x2: Tensor,
          w1: Tensor,
          w2: Tensor,
          rstd1: Tensor,
          rstd2: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
          return ops.distill.add_rms_norm2_bwd(torch.contiguous(torch.detach(dres)), torch.contiguous(torch.detach(dy)), torch.contiguous(torch.detach(o)), torch.contiguous(torch.detach(x2)), torch.contiguous(torch.detach(w1)), torch.contiguous(torch.detach(w2)), torch.contiguous(torch.detach(rstd1)), torch.contiguous(torch.detach(rstd2)))
        def rope_qk_fwd(self: __torch__.FusedOps,
          q: Tensor,
          k: Tensor,
          cos: Tensor,
          sin: Tensor,
          scale: Tensor,
          groups: Tensor) -> Tuple[Tensor, Tensor]:
          return ops.distill.rope_qk_fwd(torch.contiguous(torch.detach(q)), torch.contiguous(torch.detach(k)), torch.contiguous(torch.detach(cos)), torch.contiguous(torch.detach(sin)), float(scale), int(groups))
        def rope_qk_bwd(self: __torch__.FusedOps,
          dqr: Tensor,
          dkr: Tensor,
          cos: Tensor,
          sin: Tensor,
          scale: Tensor,
          groups: Tensor) -> Tuple[Tensor, Tensor]:
          return ops.distill.rope_qk_bwd(torch.contiguous(torch.detach(dqr)), torch.contiguous(torch.detach(dkr)), torch.contiguous(torch.detach(cos)), torch.contiguous(torch.detach(sin)), float(scale), int(groups))
        def addmm_acc(self: __torch__.FusedOps,
          c: Tensor,
          a: Tensor,
          b: Tensor) -> Tensor:
          return torch.addmm_(torch.detach(c), torch.detach(a), torch.detach(b))
        def select_rows(self: __torch__.FusedOps,
          x: Tensor,
          index: Tensor) -> Tensor:
          return torch.index_select(torch.detach(x), 0, index)
        def scatter_rows(self: __torch__.FusedOps,
          r: Tensor,
          index: Tensor,
          n: Tensor) -> Tensor:
          rows = torch.detach(r)
          out = torch.new_zeros(rows, [int(n), torch.size(rows, 1)])
          return torch.index_copy_(out, 0, index, rows)
      """;

  private static final Map<Double, NDArray> CONSTANTS = new ConcurrentHashMap<>();
  private static final Map<String, NDArray> MARKERS = new ConcurrentHashMap<>();
  private static NDManager constants;
  private static PtSymbolBlock module;
  private static Path loaded;
  private static String unavailable;

  private NativeKernels() {}

  /**
   * The system property that puts {@code Gemma2Model}'s fp32 CPU forward and backward on these
   * kernels: {@code -Ddistill.native_kernels=true} (off by default: not bit-for-bit with the
   * composed path). {@code false} also makes the library unavailable to every caller ({@link
   * #available()} false, with the reason): an operator's off switch.
   */
  public static final String SWITCH = "distill.native_kernels";

  /**
   * Loads the library for a caller that was asked to use it.
   *
   * @return true
   * @throws IllegalStateException saying why it cannot be loaded
   */
  public static boolean require() {
    try {
      load();
    } catch (IllegalStateException e) {
      throw new IllegalStateException("-D" + SWITCH + "=true, but " + e.getMessage(), e);
    }
    return true;
  }

  /** Whether the library is loaded (it is loaded by this call if it was not, and could be). */
  public static boolean available() {
    try {
      load();
      return true;
    } catch (IllegalStateException e) {
      return false;
    }
  }

  /**
   * Why the library is unavailable, in one line; empty when it is loaded (it is loaded by this call
   * if it was not, and could be).
   */
  public static synchronized Optional<String> unavailableReason() {
    available();
    return Optional.ofNullable(unavailable);
  }

  /**
   * Loads the library (once) and the module. The first failure is kept: every later call throws the
   * same reason (the property, the CPU and the jar do not change in a process).
   *
   * @return the path of the loaded library
   * @throws IllegalStateException with the one-line reason when it cannot be loaded: switched off
   *     by {@value #SWITCH}{@code =false}, not Linux x86-64, a CPU without x86-64-v3's
   *     instructions, no library in the jar (built without gcc) or at {@value #PROPERTY}, or the
   *     load failed
   */
  public static synchronized Path load() {
    if (module != null) {
      return loaded;
    }
    if (unavailable != null) {
      throw new IllegalStateException(unavailable);
    }
    try {
      loaded = loadLibraryAndModule();
      return loaded;
    } catch (RuntimeException | LinkageError e) {
      unavailable =
          e instanceof Unavailable
              ? e.getMessage()
              : "native kernels: loading failed: " + firstLine(String.valueOf(e));
      throw new IllegalStateException(unavailable, e instanceof Unavailable ? null : e);
    }
  }

  private static Path loadLibraryAndModule() {
    if ("false".equalsIgnoreCase(System.getProperty(SWITCH, "true").strip())) {
      throw new Unavailable("switched off by -D" + SWITCH + "=false");
    }
    String os = System.getProperty("os.name", "");
    String arch = System.getProperty("os.arch", "");
    if (!os.equals("Linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
      throw new Unavailable("built for linux-x86_64 only, this is " + os + " " + arch);
    }
    // Before any load: the library is compiled for x86-64-v3, and an instruction the CPU lacks
    // would kill the JVM with SIGILL at the first call instead of failing here.
    Set<String> missing = missingCpuFlags(Path.of("/proc/cpuinfo"));
    if (!missing.isEmpty()) {
      throw new Unavailable(
          "the CPU lacks " + String.join(", ", missing) + " (the library needs x86-64-v3)");
    }
    String override = System.getProperty(PROPERTY);
    Path lib;
    if (override != null) {
      lib = Path.of(override).toAbsolutePath();
      if (!Files.isRegularFile(lib)) {
        throw new Unavailable(lib + " (-D" + PROPERTY + "): no such file");
      }
    } else {
      lib = extractResource();
    }
    Engine.getEngine("PyTorch"); // libtorch first: the library's NEEDED sonames bind to DJL's
    System.load(lib.toString());
    PtNDManager owner = (PtNDManager) NDManager.newBaseManager("PyTorch"); // lives with the process
    try {
      module = JniUtils.loadModule(owner, new ByteArrayInputStream(archive()), false, false);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return lib;
  }

  /**
   * {@value #RESOURCE} copied to a temporary file of its own (owner-only, deleted at exit), as DJL
   * extracts its natives: System.load needs a file.
   */
  private static Path extractResource() {
    try (InputStream in = NativeKernels.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        throw new Unavailable(
            "no "
                + RESOURCE.substring(1)
                + " in the trainer jar (built without gcc: trainer/src/main/native/build.sh)");
      }
      Path file = Files.createTempFile("libdistill_ops-", ".so"); // mode 0600
      file.toFile().deleteOnExit();
      Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
      return file.toAbsolutePath();
    } catch (IOException e) {
      throw new UncheckedIOException("extracting " + RESOURCE, e);
    }
  }

  /**
   * The x86-64-v3 flags (AVX, AVX2, BMI1, BMI2, F16C, FMA, LZCNT as {@code abm}, MOVBE) absent from
   * cpuinfo's first {@code flags} line; all of them when it has none.
   */
  static Set<String> missingCpuFlags(Path cpuinfo) {
    Set<String> missing = new TreeSet<>(X86_64_V3);
    try (Stream<String> lines = Files.lines(cpuinfo)) {
      lines
          .filter(l -> l.startsWith("flags"))
          .findFirst()
          .ifPresent(
              l -> missing.removeAll(Arrays.asList(l.substring(l.indexOf(':') + 1).split("\\s+"))));
    } catch (IOException | UncheckedIOException e) {
      // unreadable: every flag counts as missing
    }
    return missing;
  }

  private static String firstLine(String s) {
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  /** A reason the library is not loaded that is not a failure of the load itself. */
  private static final class Unavailable extends RuntimeException {
    Unavailable(String reason) {
      super("native kernels unavailable: " + reason, null, false, false);
    }
  }

  /** fused_ops.pt with its code replaced by {@link #SOURCE} (and its debug tables dropped). */
  static byte[] archive() {
    try (InputStream in = FusedOps.class.getResourceAsStream("fused_ops.pt");
        ZipInputStream zin = new ZipInputStream(in)) {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      try (ZipOutputStream zout = new ZipOutputStream(bytes)) {
        for (ZipEntry e = zin.getNextEntry(); e != null; e = zin.getNextEntry()) {
          if (e.getName().endsWith(".debug_pkl")) {
            continue;
          }
          byte[] data = zin.readAllBytes();
          if (e.getName().endsWith("/code/__torch__.py")) {
            data = SOURCE.getBytes(StandardCharsets.UTF_8);
          }
          ZipEntry out = new ZipEntry(e.getName()); // stored, as torch.save writes them
          out.setMethod(ZipEntry.STORED);
          out.setSize(data.length);
          CRC32 crc = new CRC32();
          crc.update(data);
          out.setCrc(crc.getValue());
          zout.putNextEntry(out);
          zout.write(data);
          zout.closeEntry();
        }
      }
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Gemma's RMSNorm forward {@code x * rsqrt(mean(x^2) + eps) * (1 + w)}.
   *
   * @param x (..., D) fp32
   * @param w (D) fp32
   * @return y (..., D) and rstd (..., 1), owned by x's manager
   */
  public static NDList rmsNormForward(NDArray x, NDArray w, double eps) {
    return run("rms_norm_fwd", x, w, constant(eps));
  }

  /**
   * RMSNorm's backward.
   *
   * @param dy (..., D) the gradient of y
   * @param x (..., D) the forward's input
   * @param w (D)
   * @param rstd (..., 1) from {@link #rmsNormForward}
   * @return dx (..., D) and dw (D), owned by dy's manager
   */
  public static NDList rmsNormBackward(NDArray dy, NDArray x, NDArray w, NDArray rstd) {
    return run("rms_norm_bwd", dy, x, w, rstd);
  }

  /**
   * GeGLU forward {@code gelu_tanh(gate) * up}.
   *
   * @return (..., I), owned by gate's manager
   */
  public static NDArray gegluForward(NDArray gate, NDArray up) {
    return run("forward", gate, up).singletonOrThrow();
  }

  /**
   * GeGLU's backward.
   *
   * @return dgate and dup, (..., I), owned by dout's manager
   */
  public static NDList gegluBackward(NDArray dout, NDArray gate, NDArray up) {
    return run("geglu_bwd", dout, gate, up);
  }

  /**
   * Gemma 2's soft-capped, masked attention probabilities {@code softmax(cap tanh(s) + mask)}.
   *
   * @param s (B, KV, G*T, S) scores already divided by cap
   * @param mask (T, S) or (B, 1, 1, T, S) additive, -1e9 where hidden
   * @return p, s's shape, owned by s's manager
   */
  public static NDArray softcapSoftmaxForward(NDArray s, NDArray mask, double cap) {
    return run("softcap_softmax_fwd", s, mask, constant(cap)).singletonOrThrow();
  }

  /**
   * Its backward: {@code ds = cap (1 - tanh(s)^2) p (dp - sum(dp p))}.
   *
   * @return ds, s's shape, owned by dp's manager
   */
  public static NDArray softcapSoftmaxBackward(NDArray dp, NDArray p, NDArray s, double cap) {
    return run("softcap_softmax_bwd", dp, p, s, constant(cap)).singletonOrThrow();
  }

  /**
   * Gemma 2's post-norm, residual add and next pre-norm in one pass: {@code h = o * rstd1 * (1 +
   * w1)}, {@code x2 = x + h}, {@code y = x2 * rstd2 * (1 + w2)}, each rstd {@code rsqrt(mean(.^2) +
   * eps)} of its row.
   *
   * @param x (..., D) the residual stream
   * @param o (..., D) the sub-block's output (attention or MLP) before its post-norm
   * @param w1 (D) the post-norm's weight
   * @param w2 (D) the next pre-norm's weight
   * @return x2 (..., D), y (..., D), rstd1 (..., 1), rstd2 (..., 1), owned by x's manager
   */
  public static NDList addRmsNorm2Forward(
      NDArray x, NDArray o, NDArray w1, NDArray w2, double eps) {
    return run("add_rms_norm2_fwd", x, o, w1, w2, constant(eps));
  }

  /**
   * The backward of {@link #addRmsNorm2Forward}.
   *
   * @param dres (..., D) the gradient reaching x2 directly (the residual stream)
   * @param dy (..., D) the gradient of y
   * @param o (..., D) the forward's o
   * @param x2 (..., D) the forward's x2
   * @param rstd1 (..., 1) from the forward
   * @param rstd2 (..., 1) from the forward
   * @return dx (..., D: x2's whole gradient, which is x's), do (..., D), dw1 (D), dw2 (D), owned by
   *     dres's manager
   */
  public static NDList addRmsNorm2Backward(
      NDArray dres,
      NDArray dy,
      NDArray o,
      NDArray x2,
      NDArray w1,
      NDArray w2,
      NDArray rstd1,
      NDArray rstd2) {
    return run("add_rms_norm2_bwd", dres, dy, o, x2, w1, w2, rstd1, rstd2);
  }

  /**
   * Rotary embedding of a layer's q and k straight from their projections, in the attention's
   * layout: {@code y = x * cos + cat(x2, x1) * sin} per head (sin the model's signed table, {@code
   * cat(-sin, sin)}); q's also times scale and grouped as the model's {@code q.reshape(b, t, kv, g,
   * hd).transpose(0, 2, 3, 1, 4).reshape(b, kv, g * t, hd)}.
   *
   * @param q (B, T, H*hd), H = KV * groups
   * @param k (B, T, KV*hd)
   * @param cos (T, hd), or any shape of T * hd elements with last dim hd (the model's (1, T, 1,
   *     hd))
   * @param sin (T, hd) signed, as cos
   * @return qr (B, KV, G*T, hd) and kr (B, KV, T, hd), owned by q's manager
   */
  public static NDList ropeQkForward(
      NDArray q, NDArray k, NDArray cos, NDArray sin, double scale, int groups) {
    return run("rope_qk_fwd", q, k, cos, sin, constant(scale), constant(groups));
  }

  /**
   * The transpose of {@link #ropeQkForward}: {@code dx = dy * cos + swap(dy * sin)} per head,
   * {@code swap} exchanging a head's halves, q's times scale, back in the projections' layout.
   *
   * @param dqr (B, KV, G*T, hd) the gradient of qr
   * @param dkr (B, KV, T, hd) the gradient of kr
   * @return dq (B, T, H*hd) and dk (B, T, KV*hd), owned by dqr's manager
   */
  public static NDList ropeQkBackward(
      NDArray dqr, NDArray dkr, NDArray cos, NDArray sin, double scale, int groups) {
    return run("rope_qk_bwd", dqr, dkr, cos, sin, constant(scale), constant(groups));
  }

  /**
   * {@code c += a b} in place: libtorch's {@code addmm_} with beta 1, the product accumulated by
   * the GEMM itself (no temporary product, no separate add). Not one of the library's kernels: an
   * aten op of the same module, for the native backward's gradient sums.
   *
   * @param c (M, N) fp32, written; a view writes through to its base
   * @param a (M, K), any strides (a transposed view is read as such, not copied)
   * @param b (K, N), any strides
   */
  public static void addProduct(NDArray c, NDArray a, NDArray b) {
    run("addmm_acc", c, a, b).close();
  }

  /**
   * Some rows of a matrix ({@code index_select} on dim 0), a new contiguous array.
   *
   * @param x (R, C)
   * @param index (N) int64 row numbers
   * @return (N, C), owned by x's manager
   */
  public static NDArray selectRows(NDArray x, NDArray index) {
    return run("select_rows", x, index).singletonOrThrow();
  }

  /**
   * The transpose of {@link #selectRows}: rows put back at their row numbers, zeros elsewhere.
   *
   * @param rows (N, C)
   * @param index (N) int64 distinct row numbers below r
   * @param r the number of rows of the result
   * @return (r, C), owned by rows' manager
   */
  public static NDArray scatterRows(NDArray rows, NDArray index, long r) {
    return run("scatter_rows", rows, index, constant(r)).singletonOrThrow();
  }

  /** A () fp32 tensor of v, made once per value and kept (a scalar argument of a method). */
  private static NDArray constant(double v) {
    return CONSTANTS.computeIfAbsent(
        v,
        k -> {
          NDArray c = constantManager().create((float) (double) k); // ()
          NDScope.unregister(c);
          return c;
        });
  }

  private static NDArray methodMarker(String method) {
    return MARKERS.computeIfAbsent(
        method,
        name -> {
          NDArray marker = constantManager().create(0f); // () never read
          marker.setName("module_method:" + name);
          NDScope.unregister(marker);
          return marker;
        });
  }

  private static synchronized NDManager constantManager() {
    if (constants == null) {
      constants = NDManager.newBaseManager("PyTorch"); // lives as long as the process
    }
    return constants;
  }

  /**
   * Runs a method of the module through {@code IValueUtils.forward} (the method picked by a marker
   * input, as {@link FusedOps} does), not {@code runMethod}: runMethod runs under libtorch's
   * InferenceMode, and its results are inference tensors, which autograd refuses (no requires_grad,
   * not saved for backward) — the graph cut of a manual backward needs normal ones. The results
   * belong to the first argument's manager.
   */
  private static NDList run(String method, NDArray... args) {
    load();
    NDList in = new NDList(args.length + 1);
    in.addAll(Arrays.asList(args));
    in.add(methodMarker(method));
    return IValueUtils.forward(module, in, true);
  }
}
