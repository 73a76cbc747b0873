/*
 * Fused fp32 CPU kernels registered as custom ops distill::* through libtorch's AOTInductor C shim
 * (a plain C ABI exported by libtorch_cpu.so: no libtorch C++ headers are needed, and none for
 * libtorch 2.7.1 are reachable from these machines). A SPIKE (docs/benchmarks.md, "Fused CPU kernels
 * through libtorch's C shim: spike"): nothing in the product loads this library.
 *
 * Loading the library (System.load after DJL has loaded libtorch) runs register_ops(), which defines
 * the schemas and registers boxed kernels for the CPU dispatch key. TorchScript then calls them as
 * ops.distill.<name>(...). The ops have NO autograd formula (the shim cannot make autograd nodes):
 * each forward has a backward op that the caller runs by hand.
 *
 *   rms_norm_fwd(Tensor x, Tensor w, float eps) -> (Tensor y, Tensor rstd)
 *       Gemma's RMSNorm y = x * rsqrt(mean(x^2) + eps) * (1 + w) over the last dim D of a
 *       contiguous fp32 x (..., D); rstd (..., 1) is the per-row rsqrt, kept for the backward.
 *   rms_norm_bwd(Tensor dy, Tensor x, Tensor w, Tensor rstd) -> (Tensor dx, Tensor dw)
 *       with g = dy * (1 + w): dx = rstd * g - rstd^3 / D * sum(g * x) * x; dw = sum_rows dy * x * rstd.
 *   geglu_fwd(Tensor gate, Tensor up) -> Tensor
 *       gelu_tanh(gate) * up, gelu_tanh(g) = 0.5 g (1 + tanh(z)) = g * sigmoid(2 z),
 *       z = sqrt(2 / pi) (g + 0.044715 g^3).
 *   geglu_bwd(Tensor dout, Tensor gate, Tensor up) -> (Tensor dgate, Tensor dup)
 *       dup = dout * gelu_tanh(gate); dgate = dout * up * gelu_tanh'(gate).
 *   softcap_softmax_fwd(Tensor s, Tensor mask, float cap) -> Tensor p
 *       Gemma 2's attention probabilities softmax(cap * tanh(s) + mask) over the last dim, s the
 *       scores already divided by cap, (..., T', S) with T' a multiple of T; mask (T, S) or
 *       (B, 1, 1, T, S) additive (-1e9 hidden: exactly 0 in p).
 *   softcap_softmax_bwd(Tensor dp, Tensor p, Tensor s, float cap) -> Tensor ds
 *       ds = cap (1 - tanh(s)^2) p (dp - sum(dp p)).
 *   add_rms_norm2_fwd(Tensor x, Tensor o, Tensor w1, Tensor w2, float eps)
 *       -> (Tensor x2, Tensor y, Tensor rstd1, Tensor rstd2)
 *       Gemma 2's post-norm + residual + next pre-norm: x2 = x + o * rstd1 * (1 + w1),
 *       y = x2 * rstd2 * (1 + w2); x, o (..., D), w1, w2 (D), rstd (..., 1).
 *   add_rms_norm2_bwd(Tensor dres, Tensor dy, Tensor o, Tensor x2, Tensor w1, Tensor w2,
 *                     Tensor rstd1, Tensor rstd2) -> (Tensor dx, Tensor do, Tensor dw1, Tensor dw2)
 *       dres the gradient reaching x2 directly, dy y's; dx = dres + normbwd(dy; x2, w2, rstd2),
 *       do = normbwd(dx; o, w1, rstd1).
 *   rope_qk_fwd(Tensor q, Tensor k, Tensor cos, Tensor sin, float scale, int groups)
 *       -> (Tensor qr, Tensor kr)
 *       rotary embedding y = x * cos + swap(x) * sin' (sin' the model's signed table, swap
 *       exchanging the halves of a head) on q (B, T, H*hd) and k (B, T, KV*hd), H = KV * groups,
 *       cos and sin (T, hd); qr = rope(q) * scale as (B, KV, G*T, hd) (row g*T + t of kv head j:
 *       query head j*G + g at position t, the model's grouped layout), kr = rope(k) (B, KV, T, hd).
 *   rope_qk_bwd(Tensor dqr, Tensor dkr, Tensor cos, Tensor sin, float scale, int groups)
 *       -> (Tensor dq, Tensor dk)
 *       the transpose: dx = dy * cos + swap(dy * sin') per head, back to (B, T, H*hd), (B, T, KV*hd).
 *
 * The boxed-kernel contract, as in libtorch's shim_common.cpp (StableIValueBoxedKernel): the
 * arguments arrive on the stack in schema order, each tensor as a NEW AtenTensorHandle that the
 * kernel owns (and must delete); the kernel writes its returns at stack[0..], each tensor a new
 * handle whose ownership passes to the caller; a float argument is a double's bits.
 */
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shim's declarations (torch/csrc/inductor/aoti_torch/c/shim.h), restated for C. */
typedef int32_t AOTITorchError;
typedef struct AtenTensorOpaque *AtenTensorHandle;
typedef struct TorchLibraryOpaque *TorchLibraryHandle;
typedef uint64_t StableIValue;
typedef void (*BoxedKernel)(StableIValue *stack, uint64_t num_args, uint64_t num_outputs);

extern AOTITorchError aoti_torch_library_init_def(const char *ns, const char *file, uint32_t line,
                                                  TorchLibraryHandle *ret);
extern AOTITorchError aoti_torch_library_init_impl(const char *ns, const char *k, const char *file,
                                                   uint32_t line, TorchLibraryHandle *ret);
extern AOTITorchError aoti_torch_library_def(TorchLibraryHandle self, const char *schema);
extern AOTITorchError aoti_torch_library_impl(TorchLibraryHandle self, const char *name,
                                              BoxedKernel fn);
extern AOTITorchError aoti_torch_get_data_ptr(AtenTensorHandle t, void **ret);
extern AOTITorchError aoti_torch_get_dim(AtenTensorHandle t, int64_t *ret);
extern AOTITorchError aoti_torch_get_sizes(AtenTensorHandle t, int64_t **ret);
extern AOTITorchError aoti_torch_get_strides(AtenTensorHandle t, int64_t **ret);
extern AOTITorchError aoti_torch_get_dtype(AtenTensorHandle t, int32_t *ret);
extern AOTITorchError aoti_torch_get_device_type(AtenTensorHandle t, int32_t *ret);
extern AOTITorchError aoti_torch_empty_strided(int64_t ndim, const int64_t *sizes,
                                               const int64_t *strides, int32_t dtype,
                                               int32_t device_type, int32_t device_index,
                                               AtenTensorHandle *ret);
extern AOTITorchError aoti_torch_delete_tensor_object(AtenTensorHandle t);
extern int32_t aoti_torch_dtype_float32(void);
extern int32_t aoti_torch_device_type_cpu(void);
/* Throws c10::Error (a C++ exception through these frames: compiled with -fexceptions). */
extern void aoti_torch_check(bool cond, const char *func, const char *file, uint32_t line,
                             const char *msg);

#define MAX_DIM 8

/** A borrowed view of a contiguous fp32 CPU tensor argument. */
typedef struct {
  AtenTensorHandle h;
  float *data;
  int64_t dim;
  int64_t sizes[MAX_DIM];
  int64_t numel;
} Arg;

static void release(AtenTensorHandle *hs, int n) {
  for (int i = 0; i < n; i++) {
    if (hs[i] != NULL) {
      aoti_torch_delete_tensor_object(hs[i]);
    }
  }
}

/* Fails the op with msg after deleting the n input handles (a throw: does not return). */
static void fail(AtenTensorHandle *hs, int n, const char *func, const char *msg) {
  release(hs, n);
  aoti_torch_check(false, func, __FILE__, __LINE__, msg);
  abort(); /* not reached */
}

/* Reads handle h into a; returns NULL when it is a contiguous fp32 CPU tensor, else why not. */
static const char *view(AtenTensorHandle h, Arg *a) {
  int32_t dtype, device;
  int64_t *sizes, *strides;
  a->h = h;
  if (aoti_torch_get_dtype(h, &dtype) || aoti_torch_get_device_type(h, &device) ||
      aoti_torch_get_dim(h, &a->dim) || aoti_torch_get_sizes(h, &sizes) ||
      aoti_torch_get_strides(h, &strides) || aoti_torch_get_data_ptr(h, (void **)&a->data)) {
    return "cannot read a tensor argument";
  }
  if (dtype != aoti_torch_dtype_float32()) return "tensor arguments must be float32";
  if (device != aoti_torch_device_type_cpu()) return "tensor arguments must be on the CPU";
  if (a->dim < 1 || a->dim > MAX_DIM) return "tensor arguments must have 1 to 8 dimensions";
  int64_t expect = 1;
  for (int64_t i = a->dim - 1; i >= 0; i--) {
    a->sizes[i] = sizes[i];
    if (sizes[i] != 1 && strides[i] != expect) return "tensor arguments must be contiguous";
    expect *= sizes[i];
  }
  a->numel = expect;
  return NULL;
}

/* A new contiguous fp32 CPU tensor of the given sizes (NULL on failure). */
static AtenTensorHandle empty(int64_t dim, const int64_t *sizes, float **data) {
  int64_t strides[MAX_DIM];
  int64_t s = 1;
  for (int64_t i = dim - 1; i >= 0; i--) {
    strides[i] = s;
    s *= sizes[i];
  }
  AtenTensorHandle out = NULL;
  if (aoti_torch_empty_strided(dim, sizes, strides, aoti_torch_dtype_float32(),
                               aoti_torch_device_type_cpu(), 0, &out)) {
    return NULL;
  }
  aoti_torch_get_data_ptr(out, (void **)data);
  return out;
}

/* The rows [begin, end) of n rows that thread t of nt takes (static split, as OpenMP's). */
static void split(int64_t n, int t, int nt, int64_t *begin, int64_t *end) {
  *begin = n * t / nt;
  *end = n * (t + 1) / nt;
}

/* ---------------------------------------------------------------- RMSNorm */

#define LANES 16 /* independent partial sums, so that the sum vectorizes without reassociation */

static float dot(const float *a, const float *b, int64_t d) {
  float acc[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= d; i += LANES) {
    for (int l = 0; l < LANES; l++) acc[l] += a[i + l] * b[i + l];
  }
  float s = 0;
  for (int l = 0; l < LANES; l++) s += acc[l];
  for (; i < d; i++) s += a[i] * b[i];
  return s;
}

static void rms_norm_fwd(StableIValue *stack, uint64_t num_args, uint64_t num_outputs) {
  (void)num_args;
  (void)num_outputs;
  AtenTensorHandle in[2] = {(AtenTensorHandle)stack[0], (AtenTensorHandle)stack[1]};
  double eps;
  memcpy(&eps, &stack[2], sizeof eps);
  Arg x, w;
  const char *why = view(in[0], &x);
  if (why == NULL) why = view(in[1], &w);
  if (why != NULL) fail(in, 2, "distill::rms_norm_fwd", why);
  const int64_t d = x.sizes[x.dim - 1];
  if (w.numel != d) fail(in, 2, "distill::rms_norm_fwd", "w must have D = x.size(-1) elements");
  const int64_t rows = x.numel / d;
  int64_t rsizes[MAX_DIM];
  memcpy(rsizes, x.sizes, sizeof rsizes);
  rsizes[x.dim - 1] = 1;
  float *y, *rstd;
  AtenTensorHandle hy = empty(x.dim, x.sizes, &y);
  AtenTensorHandle hr = empty(x.dim, rsizes, &rstd);
  if (hy == NULL || hr == NULL) {
    AtenTensorHandle outs[2] = {hy, hr};
    release(outs, 2);
    fail(in, 2, "distill::rms_norm_fwd", "cannot allocate the outputs");
  }
  const float *xp = x.data, *wp = w.data;
  const float feps = (float)eps, inv_d = 1.0f / (float)d;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = xp + r * d;
    float *yr = y + r * d;
    const float rs = 1.0f / sqrtf(dot(xr, xr, d) * inv_d + feps);
    rstd[r] = rs;
    for (int64_t i = 0; i < d; i++) yr[i] = xr[i] * rs * (1.0f + wp[i]);
  }
  release(in, 2);
  stack[0] = (StableIValue)hy;
  stack[1] = (StableIValue)hr;
}

static void rms_norm_bwd(StableIValue *stack, uint64_t num_args, uint64_t num_outputs) {
  (void)num_args;
  (void)num_outputs;
  AtenTensorHandle in[4];
  for (int i = 0; i < 4; i++) in[i] = (AtenTensorHandle)stack[i];
  Arg dy, x, w, rstd;
  const char *why = view(in[0], &dy);
  if (why == NULL) why = view(in[1], &x);
  if (why == NULL) why = view(in[2], &w);
  if (why == NULL) why = view(in[3], &rstd);
  if (why != NULL) fail(in, 4, "distill::rms_norm_bwd", why);
  const int64_t d = x.sizes[x.dim - 1];
  const int64_t rows = x.numel / d;
  if (dy.numel != x.numel || w.numel != d || rstd.numel != rows) {
    fail(in, 4, "distill::rms_norm_bwd", "dy must be x's shape, w (D), rstd one per row of x");
  }
  float *dx, *dw;
  int64_t wsize = d;
  AtenTensorHandle hdx = empty(x.dim, x.sizes, &dx);
  AtenTensorHandle hdw = empty(1, &wsize, &dw);
  const int nt_max = omp_get_max_threads();
  float *partial = calloc((size_t)nt_max * (size_t)d, sizeof(float)); /* dw per thread */
  float *onew = malloc((size_t)d * sizeof(float));
  if (hdx == NULL || hdw == NULL || partial == NULL || onew == NULL) {
    AtenTensorHandle outs[2] = {hdx, hdw};
    release(outs, 2);
    free(partial);
    free(onew);
    fail(in, 4, "distill::rms_norm_bwd", "cannot allocate the outputs");
  }
  for (int64_t i = 0; i < d; i++) onew[i] = 1.0f + w.data[i];
  const float *dyp = dy.data, *xp = x.data, *rp = rstd.data;
  const float inv_d = 1.0f / (float)d;
  int nt_used = 1;
#pragma omp parallel
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    if (t == 0) nt_used = nt;
    int64_t begin, end;
    split(rows, t, nt, &begin, &end);
    float *pw = partial + (size_t)t * (size_t)d;
    float g[d < 4096 ? d : 1]; /* VLA for the row's dy * (1 + w) */
    float *gr = d < 4096 ? g : malloc((size_t)d * sizeof(float));
    for (int64_t r = begin; r < end; r++) {
      const float *dyr = dyp + r * d, *xr = xp + r * d;
      float *dxr = dx + r * d;
      const float rs = rp[r];
      for (int64_t i = 0; i < d; i++) gr[i] = dyr[i] * onew[i];
      const float c = rs * rs * rs * inv_d * dot(gr, xr, d);
      for (int64_t i = 0; i < d; i++) {
        dxr[i] = rs * gr[i] - c * xr[i];
        pw[i] += dyr[i] * (xr[i] * rs);
      }
    }
    if (gr != g) free(gr);
  }
  for (int64_t i = 0; i < d; i++) {
    float s = 0;
    for (int t = 0; t < nt_used; t++) s += partial[(size_t)t * (size_t)d + i];
    dw[i] = s;
  }
  free(partial);
  free(onew);
  release(in, 4);
  stack[0] = (StableIValue)hdx;
  stack[1] = (StableIValue)hdw;
}

/* ---------------------------------------------------------------- GeGLU */

/* e^x for x in [-87, 80] (clamped), Cephes' expf: range reduction by ln 2 and a degree-6
 * polynomial, about 1 ulp; written so that gcc vectorizes it (no libm call). The upper clamp is 80,
 * not 88: the vectorized loop computes the clamped case for every lane and blends, and with 88 its
 * g / (1 + e^88) is a subnormal for |g| < 2, whose microcode assists made the GeGLU kernels 10x
 * slower (measured). Here the callers use e^-2z only in 1 / (1 + e^-2z), where e^80 is as good as
 * infinity (the result is below 2e-35). */
static inline float exp_approx(float x) {
  /* Ternaries and the 1.5 * 2^23 rounding trick, not fminf / floorf: those do not vectorize
   * without -ffast-math. */
  x = x < -87.0f ? -87.0f : x;
  x = x > 80.0f ? 80.0f : x;
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round(x / ln 2) */
  const int32_t k = (int32_t)n;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  const int32_t bits = (k + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return e * scale;
}

#define BLOCK 4096 /* elements per parallel work item of the element-wise kernels */
#define GELU_K0 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_K1 0.044715f

static void geglu_fwd(StableIValue *stack, uint64_t num_args, uint64_t num_outputs) {
  (void)num_args;
  (void)num_outputs;
  AtenTensorHandle in[2] = {(AtenTensorHandle)stack[0], (AtenTensorHandle)stack[1]};
  Arg gate, up;
  const char *why = view(in[0], &gate);
  if (why == NULL) why = view(in[1], &up);
  if (why != NULL) fail(in, 2, "distill::geglu_fwd", why);
  if (gate.numel != up.numel) fail(in, 2, "distill::geglu_fwd", "gate and up must be one shape");
  float *out;
  AtenTensorHandle ho = empty(gate.dim, gate.sizes, &out);
  if (ho == NULL) fail(in, 2, "distill::geglu_fwd", "cannot allocate the output");
  const float *gp = gate.data, *up_ = up.data;
  const int64_t n = gate.numel;
  const int64_t blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; b++) {
    const int64_t end = (b + 1) * BLOCK < n ? (b + 1) * BLOCK : n;
    for (int64_t i = b * BLOCK; i < end; i++) {
      const float g = gp[i];
      const float z = GELU_K0 * (g + GELU_K1 * g * g * g);
      out[i] = g / (1.0f + exp_approx(-2.0f * z)) * up_[i];
    }
  }
  release(in, 2);
  stack[0] = (StableIValue)ho;
}

static void geglu_bwd(StableIValue *stack, uint64_t num_args, uint64_t num_outputs) {
  (void)num_args;
  (void)num_outputs;
  AtenTensorHandle in[3];
  for (int i = 0; i < 3; i++) in[i] = (AtenTensorHandle)stack[i];
  Arg dout, gate, up;
  const char *why = view(in[0], &dout);
  if (why == NULL) why = view(in[1], &gate);
  if (why == NULL) why = view(in[2], &up);
  if (why != NULL) fail(in, 3, "distill::geglu_bwd", why);
  if (gate.numel != up.numel || dout.numel != gate.numel) {
    fail(in, 3, "distill::geglu_bwd", "dout, gate and up must be one shape");
  }
  float *dg, *du;
  AtenTensorHandle hg = empty(gate.dim, gate.sizes, &dg);
  AtenTensorHandle hu = empty(gate.dim, gate.sizes, &du);
  if (hg == NULL || hu == NULL) {
    AtenTensorHandle outs[2] = {hg, hu};
    release(outs, 2);
    fail(in, 3, "distill::geglu_bwd", "cannot allocate the outputs");
  }
  const float *dop = dout.data, *gp = gate.data, *upp = up.data;
  const int64_t n = gate.numel;
  const int64_t blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; b++) {
    const int64_t end = (b + 1) * BLOCK < n ? (b + 1) * BLOCK : n;
    for (int64_t i = b * BLOCK; i < end; i++) {
    const float g = gp[i];
    const float g2 = g * g;
    const float z = GELU_K0 * (g + GELU_K1 * g2 * g);
    const float s = 1.0f / (1.0f + exp_approx(-2.0f * z)); /* 0.5 (1 + tanh z) */
    const float dz = GELU_K0 * (1.0f + 3.0f * GELU_K1 * g2);
    /* gelu' = 0.5 (1 + t) + 0.5 g (1 - t^2) dz, with 1 + t = 2 s and 1 - t^2 = 4 s (1 - s) */
    const float dgelu = s + 2.0f * g * s * (1.0f - s) * dz;
    du[i] = dop[i] * (g * s);
    dg[i] = dop[i] * upp[i] * dgelu;
    }
  }
  release(in, 3);
  stack[0] = (StableIValue)hg;
  stack[1] = (StableIValue)hu;
}

/* ---------------------------------------------------------------- soft-capped, masked softmax */

/* tanh(x) = 2 / (1 + e^-2x) - 1, vectorizable (absolute error about 1e-7 near 0). */
static inline float tanh_approx(float x) { return 2.0f / (1.0f + exp_approx(-2.0f * x)) - 1.0f; }

/* The mask row of score row r: mask (T, S) is shared; (B, 1, 1, T, S) is per batch row. */
static inline int64_t mask_row(const Arg *mask, int64_t r, int64_t rows) {
  if (mask->dim == 2) return r % mask->sizes[0];
  const int64_t t = mask->sizes[3], b = mask->sizes[0];
  return (r / (rows / b)) * t + r % t;
}

/* Checks the scores (..., T', S) against the mask; returns NULL or why not. */
static const char *check_mask(const Arg *s, const Arg *mask, int64_t rows) {
  const int64_t n = s->sizes[s->dim - 1];
  if (mask->dim == 2) {
    if (mask->sizes[1] != n || rows % mask->sizes[0] != 0) return "mask (T, S) must match the scores";
  } else if (mask->dim == 5) {
    if (mask->sizes[4] != n || mask->sizes[1] != 1 || mask->sizes[2] != 1 ||
        rows % (mask->sizes[0] * mask->sizes[3]) != 0) {
      return "mask (B, 1, 1, T, S) must match the scores";
    }
  } else {
    return "mask must be (T, S) or (B, 1, 1, T, S)";
  }
  return NULL;
}

/* p = softmax(cap * tanh(s) + mask) over the last dim; s already divided by cap (Gemma 2's
 * attention soft-cap with 1 / cap folded into the queries). Masked keys (-1e9) get exactly 0. */
static void softcap_softmax_fwd(StableIValue *stack, uint64_t num_args, uint64_t num_outputs) {
  AtenTensorHandle in[2] = {(AtenTensorHandle)stack[0], (AtenTensorHandle)stack[1]};
  double cap;
  memcpy(&cap, &stack[2], sizeof cap);
  Arg sc, mask;
  const char *why = view(in[0], &sc);
  if (why == NULL) why = view(in[1], &mask);
  const int64_t n = sc.sizes[sc.dim - 1], rows = why == NULL ? sc.numel / n : 0;
  if (why == NULL) why = check_mask(&sc, &mask, rows);
  if (why != NULL) fail(in, 2, "distill::softcap_softmax_fwd", why);
  float *p;
  AtenTensorHandle hp = empty(sc.dim, sc.sizes, &p);
  if (hp == NULL) fail(in, 2, "distill::softcap_softmax_fwd", "cannot allocate the output");
  const float *sp = sc.data, *mp = mask.data, fcap = (float)cap;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float *sr = sp + r * n, *mr = mp + mask_row(&mask, r, rows) * n;
    float *pr = p + r * n;
    for (int64_t j = 0; j < n; j++) pr[j] = fcap * tanh_approx(sr[j]) + mr[j]; /* z, kept in p */
    float mxl[LANES];
    for (int l = 0; l < LANES; l++) mxl[l] = -INFINITY;
    int64_t j = 0;
    for (; j + LANES <= n; j += LANES) {
      for (int l = 0; l < LANES; l++) mxl[l] = pr[j + l] > mxl[l] ? pr[j + l] : mxl[l];
    }
    float mx = -INFINITY;
    for (int l = 0; l < LANES; l++) mx = mxl[l] > mx ? mxl[l] : mx;
    for (; j < n; j++) mx = pr[j] > mx ? pr[j] : mx;
    float acc[LANES] = {0};
    j = 0;
    for (; j + LANES <= n; j += LANES) {
      for (int l = 0; l < LANES; l++) {
        const float d = pr[j + l] - mx;
        const float e = d < -87.0f ? 0.0f : exp_approx(d);
        pr[j + l] = e;
        acc[l] += e;
      }
    }
    float sum = 0;
    for (int l = 0; l < LANES; l++) sum += acc[l];
    for (; j < n; j++) {
      const float d = pr[j] - mx;
      pr[j] = d < -87.0f ? 0.0f : exp_approx(d);
      sum += pr[j];
    }
    const float inv = 1.0f / sum;
    for (j = 0; j < n; j++) pr[j] *= inv;
  }
  release(in, 2);
  stack[0] = (StableIValue)hp;
}

/* ds = cap (1 - tanh(s)^2) p (dp - sum(dp p)), row by row. */
static void softcap_softmax_bwd(StableIValue *stack, uint64_t num_args, uint64_t num_outputs) {
  AtenTensorHandle in[3];
  for (int i = 0; i < 3; i++) in[i] = (AtenTensorHandle)stack[i];
  double cap;
  memcpy(&cap, &stack[3], sizeof cap);
  Arg dp, p, sc;
  const char *why = view(in[0], &dp);
  if (why == NULL) why = view(in[1], &p);
  if (why == NULL) why = view(in[2], &sc);
  if (why == NULL && (dp.numel != sc.numel || p.numel != sc.numel)) {
    why = "dp, p and s must be one shape";
  }
  if (why != NULL) fail(in, 3, "distill::softcap_softmax_bwd", why);
  const int64_t n = sc.sizes[sc.dim - 1], rows = sc.numel / n;
  float *ds;
  AtenTensorHandle hs = empty(sc.dim, sc.sizes, &ds);
  if (hs == NULL) fail(in, 3, "distill::softcap_softmax_bwd", "cannot allocate the output");
  const float *dpp = dp.data, *pp = p.data, *sp = sc.data, fcap = (float)cap;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float *dpr = dpp + r * n, *pr = pp + r * n, *sr = sp + r * n;
    float *dsr = ds + r * n;
    const float dot_ = dot(dpr, pr, n);
    for (int64_t j = 0; j < n; j++) {
      const float t = tanh_approx(sr[j]);
      dsr[j] = pr[j] * (dpr[j] - dot_) * (fcap * (1.0f - t * t));
    }
  }
  release(in, 3);
  stack[0] = (StableIValue)hs;
}

/* ---------------------------------------------------------------- residual add between two norms */

static bool same_shape(const Arg *a, const Arg *b) {
  if (a->dim != b->dim) return false;
  for (int64_t i = 0; i < a->dim; i++) {
    if (a->sizes[i] != b->sizes[i]) return false;
  }
  return true;
}

/* Gemma 2's post-norm, residual add and the next pre-norm, one pass over each row of D:
 * h = o * rstd1 * (1 + w1), rstd1 = rsqrt(mean(o^2) + eps); x2 = x + h;
 * y = x2 * rstd2 * (1 + w2), rstd2 = rsqrt(mean(x2^2) + eps). Returns x2, y, rstd1, rstd2. */
static void add_rms_norm2_fwd(StableIValue *stack, uint64_t num_args, uint64_t num_outputs) {
  (void)num_args;
  (void)num_outputs;
  AtenTensorHandle in[4];
  for (int i = 0; i < 4; i++) in[i] = (AtenTensorHandle)stack[i];
  double eps;
  memcpy(&eps, &stack[4], sizeof eps);
  Arg x, o, w1, w2;
  const char *why = view(in[0], &x);
  if (why == NULL) why = view(in[1], &o);
  if (why == NULL) why = view(in[2], &w1);
  if (why == NULL) why = view(in[3], &w2);
  if (why == NULL && !same_shape(&x, &o)) why = "x and o must be one shape (..., D)";
  if (why == NULL && (w1.numel != x.sizes[x.dim - 1] || w2.numel != x.sizes[x.dim - 1])) {
    why = "w1 and w2 must have D = x.size(-1) elements";
  }
  if (why != NULL) fail(in, 4, "distill::add_rms_norm2_fwd", why);
  const int64_t d = x.sizes[x.dim - 1];
  const int64_t rows = x.numel / d;
  int64_t rsizes[MAX_DIM];
  memcpy(rsizes, x.sizes, sizeof rsizes);
  rsizes[x.dim - 1] = 1;
  float *x2, *y, *r1, *r2;
  AtenTensorHandle out[4] = {empty(x.dim, x.sizes, &x2), empty(x.dim, x.sizes, &y),
                             empty(x.dim, rsizes, &r1), empty(x.dim, rsizes, &r2)};
  if (out[0] == NULL || out[1] == NULL || out[2] == NULL || out[3] == NULL) {
    release(out, 4);
    fail(in, 4, "distill::add_rms_norm2_fwd", "cannot allocate the outputs");
  }
  const float *xp = x.data, *op = o.data, *w1p = w1.data, *w2p = w2.data;
  const float feps = (float)eps, inv_d = 1.0f / (float)d;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = xp + r * d, *orow = op + r * d;
    float *x2r = x2 + r * d, *yr = y + r * d;
    const float rs1 = 1.0f / sqrtf(dot(orow, orow, d) * inv_d + feps);
    for (int64_t i = 0; i < d; i++) x2r[i] = xr[i] + orow[i] * rs1 * (1.0f + w1p[i]);
    const float rs2 = 1.0f / sqrtf(dot(x2r, x2r, d) * inv_d + feps);
    for (int64_t i = 0; i < d; i++) yr[i] = x2r[i] * rs2 * (1.0f + w2p[i]);
    r1[r] = rs1;
    r2[r] = rs2;
  }
  release(in, 4);
  for (int i = 0; i < 4; i++) stack[i] = (StableIValue)out[i];
}

/* Its backward. dres reaches x2 directly (the residual stream), dy reaches y. With the norm's
 * backward nb(g; x, w, rs) = rs * g (1 + w) - rs^3 / D * sum(g (1 + w) x) * x:
 * dx = dres + nb(dy; x2, w2, rstd2) (the gradient of x2, which is x's as x2 = x + h);
 * do = nb(dx; o, w1, rstd1); dw2 = sum_rows dy * x2 * rstd2; dw1 = sum_rows dx * o * rstd1.
 * The weight sums are per thread, then added in thread order (deterministic for a thread count). */
static void add_rms_norm2_bwd(StableIValue *stack, uint64_t num_args, uint64_t num_outputs) {
  (void)num_args;
  (void)num_outputs;
  AtenTensorHandle in[8];
  for (int i = 0; i < 8; i++) in[i] = (AtenTensorHandle)stack[i];
  Arg dres, dy, o, x2, w1, w2, rstd1, rstd2;
  Arg *args[8] = {&dres, &dy, &o, &x2, &w1, &w2, &rstd1, &rstd2};
  const char *why = NULL;
  for (int i = 0; i < 8 && why == NULL; i++) why = view(in[i], args[i]);
  if (why == NULL && !(same_shape(&dres, &o) && same_shape(&dy, &o) && same_shape(&x2, &o))) {
    why = "dres, dy, o and x2 must be one shape (..., D)";
  }
  const int64_t d = why == NULL ? o.sizes[o.dim - 1] : 1;
  const int64_t rows = why == NULL ? o.numel / d : 0;
  if (why == NULL && (w1.numel != d || w2.numel != d)) why = "w1 and w2 must have D elements";
  if (why == NULL && (rstd1.numel != rows || rstd2.numel != rows)) {
    why = "rstd1 and rstd2 must have one value per row";
  }
  if (why != NULL) fail(in, 8, "distill::add_rms_norm2_bwd", why);
  float *dx, *dob, *dw1, *dw2;
  int64_t wsize = d;
  AtenTensorHandle out[4] = {empty(o.dim, o.sizes, &dx), empty(o.dim, o.sizes, &dob),
                             empty(1, &wsize, &dw1), empty(1, &wsize, &dw2)};
  const int nt_max = omp_get_max_threads();
  float *partial = calloc(2 * (size_t)nt_max * (size_t)d, sizeof(float)); /* dw1, dw2 per thread */
  float *onew = malloc(2 * (size_t)d * sizeof(float));                    /* 1 + w1, 1 + w2 */
  if (out[0] == NULL || out[1] == NULL || out[2] == NULL || out[3] == NULL || partial == NULL ||
      onew == NULL) {
    release(out, 4);
    free(partial);
    free(onew);
    fail(in, 8, "distill::add_rms_norm2_bwd", "cannot allocate the outputs");
  }
  float *onew1 = onew, *onew2 = onew + d;
  for (int64_t i = 0; i < d; i++) {
    onew1[i] = 1.0f + w1.data[i];
    onew2[i] = 1.0f + w2.data[i];
  }
  const float *dresp = dres.data, *dyp = dy.data, *op = o.data, *x2p = x2.data;
  const float *r1p = rstd1.data, *r2p = rstd2.data;
  const float inv_d = 1.0f / (float)d;
  int nt_used = 1;
#pragma omp parallel
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    if (t == 0) nt_used = nt;
    int64_t begin, end;
    split(rows, t, nt, &begin, &end);
    float *pw1 = partial + (size_t)t * (size_t)d;
    float *pw2 = partial + ((size_t)nt_max + (size_t)t) * (size_t)d;
    float g[d < 4096 ? d : 1]; /* VLA for the row's gradient times (1 + w) */
    float *gr = d < 4096 ? g : malloc((size_t)d * sizeof(float));
    for (int64_t r = begin; r < end; r++) {
      const float *dresr = dresp + r * d, *dyr = dyp + r * d, *orow = op + r * d;
      const float *x2r = x2p + r * d;
      float *dxr = dx + r * d, *dor = dob + r * d;
      const float rs1 = r1p[r], rs2 = r2p[r];
      for (int64_t i = 0; i < d; i++) gr[i] = dyr[i] * onew2[i];
      const float c2 = rs2 * rs2 * rs2 * inv_d * dot(gr, x2r, d);
      for (int64_t i = 0; i < d; i++) {
        dxr[i] = dresr[i] + (rs2 * gr[i] - c2 * x2r[i]);
        pw2[i] += dyr[i] * (x2r[i] * rs2);
      }
      for (int64_t i = 0; i < d; i++) gr[i] = dxr[i] * onew1[i];
      const float c1 = rs1 * rs1 * rs1 * inv_d * dot(gr, orow, d);
      for (int64_t i = 0; i < d; i++) {
        dor[i] = rs1 * gr[i] - c1 * orow[i];
        pw1[i] += dxr[i] * (orow[i] * rs1);
      }
    }
    if (gr != g) free(gr);
  }
  for (int64_t i = 0; i < d; i++) {
    float s1 = 0, s2 = 0;
    for (int t = 0; t < nt_used; t++) {
      s1 += partial[(size_t)t * (size_t)d + i];
      s2 += partial[((size_t)nt_max + (size_t)t) * (size_t)d + i];
    }
    dw1[i] = s1;
    dw2[i] = s2;
  }
  free(partial);
  free(onew);
  release(in, 8);
  for (int i = 0; i < 4; i++) stack[i] = (StableIValue)out[i];
}

/* ---------------------------------------------------------------- rope on q and k */

/* y = x * c + swap(x) * s' on one head of hd (swap exchanges the halves; s' the signed sin), times
 * scale. Its transpose, dx = dy * c + swap(dy * s'), is rope_row_t. */
static inline void rope_row(const float *x, const float *c, const float *s, float scale, int64_t hd,
                            float *y) {
  const int64_t half = hd / 2;
  for (int64_t i = 0; i < half; i++) {
    y[i] = (x[i] * c[i] + x[i + half] * s[i]) * scale;
    y[i + half] = (x[i + half] * c[i + half] + x[i] * s[i + half]) * scale;
  }
}

static inline void rope_row_t(const float *dy, const float *c, const float *s, float scale,
                              int64_t hd, float *dx) {
  const int64_t half = hd / 2;
  for (int64_t i = 0; i < half; i++) {
    dx[i] = (dy[i] * c[i] + dy[i + half] * s[i + half]) * scale;
    dx[i + half] = (dy[i + half] * c[i + half] + dy[i] * s[i]) * scale;
  }
}

/* Checks cos and sin: hd = their last dim (even), T * hd elements each; returns NULL or why not. */
static const char *check_tables(const Arg *cos_, const Arg *sin_, int64_t t, int64_t *hd) {
  *hd = cos_->sizes[cos_->dim - 1];
  if (*hd < 2 || *hd % 2 != 0) return "cos and sin must be (T, hd) with hd even";
  if (cos_->numel != t * *hd || !same_shape(cos_, sin_)) {
    return "cos and sin must be one shape (T, hd), T the positions of q and k";
  }
  return NULL;
}

/* qr = rope(q) * scale as (B, KV, G*T, hd), row g*T + t of kv head j query head j*G + g at
 * position t; kr = rope(k) as (B, KV, T, hd). q (B, T, H*hd), k (B, T, KV*hd), H = KV * groups. */
static void rope_qk_fwd(StableIValue *stack, uint64_t num_args, uint64_t num_outputs) {
  (void)num_args;
  (void)num_outputs;
  AtenTensorHandle in[4];
  for (int i = 0; i < 4; i++) in[i] = (AtenTensorHandle)stack[i];
  double scale;
  int64_t groups;
  memcpy(&scale, &stack[4], sizeof scale);
  memcpy(&groups, &stack[5], sizeof groups);
  Arg q, k, cos_, sin_;
  const char *why = view(in[0], &q);
  if (why == NULL) why = view(in[1], &k);
  if (why == NULL) why = view(in[2], &cos_);
  if (why == NULL) why = view(in[3], &sin_);
  if (why == NULL && (q.dim != 3 || k.dim != 3 || q.sizes[0] != k.sizes[0] ||
                      q.sizes[1] != k.sizes[1])) {
    why = "q must be (B, T, H*hd) and k (B, T, KV*hd)";
  }
  int64_t hd = 0;
  if (why == NULL) why = check_tables(&cos_, &sin_, q.sizes[1], &hd);
  if (why == NULL && groups < 1) why = "groups must be at least 1";
  if (why == NULL && (q.sizes[2] % hd != 0 || k.sizes[2] % hd != 0 ||
                      q.sizes[2] / hd != k.sizes[2] / hd * groups)) {
    why = "q must have H = KV * groups heads of hd, k KV heads of hd";
  }
  if (why != NULL) fail(in, 4, "distill::rope_qk_fwd", why);
  const int64_t b = q.sizes[0], t = q.sizes[1], kv = k.sizes[2] / hd, g = groups;
  const int64_t qsizes[4] = {b, kv, g * t, hd}, ksizes[4] = {b, kv, t, hd};
  float *qr, *kr;
  AtenTensorHandle out[2] = {empty(4, qsizes, &qr), empty(4, ksizes, &kr)};
  if (out[0] == NULL || out[1] == NULL) {
    release(out, 2);
    fail(in, 4, "distill::rope_qk_fwd", "cannot allocate the outputs");
  }
  const float *qp = q.data, *kp = k.data, *cp = cos_.data, *sp = sin_.data, fs = (float)scale;
#pragma omp parallel for schedule(static)
  for (int64_t bt = 0; bt < b * t; bt++) { /* one position of one sequence: all its heads */
    const int64_t bi = bt / t, ti = bt % t;
    const float *c = cp + ti * hd, *s = sp + ti * hd;
    const float *qrow = qp + bt * kv * g * hd, *krow = kp + bt * kv * hd;
    for (int64_t j = 0; j < kv; j++) {
      for (int64_t gi = 0; gi < g; gi++) {
        rope_row(qrow + (j * g + gi) * hd, c, s, fs, hd,
                 qr + (((bi * kv + j) * g + gi) * t + ti) * hd);
      }
      rope_row(krow + j * hd, c, s, 1.0f, hd, kr + ((bi * kv + j) * t + ti) * hd);
    }
  }
  release(in, 4);
  stack[0] = (StableIValue)out[0];
  stack[1] = (StableIValue)out[1];
}

/* The transpose of rope_qk_fwd: dq (B, T, H*hd) and dk (B, T, KV*hd) from dqr (B, KV, G*T, hd)
 * and dkr (B, KV, T, hd). */
static void rope_qk_bwd(StableIValue *stack, uint64_t num_args, uint64_t num_outputs) {
  (void)num_args;
  (void)num_outputs;
  AtenTensorHandle in[4];
  for (int i = 0; i < 4; i++) in[i] = (AtenTensorHandle)stack[i];
  double scale;
  int64_t groups;
  memcpy(&scale, &stack[4], sizeof scale);
  memcpy(&groups, &stack[5], sizeof groups);
  Arg dq, dk, cos_, sin_;
  const char *why = view(in[0], &dq);
  if (why == NULL) why = view(in[1], &dk);
  if (why == NULL) why = view(in[2], &cos_);
  if (why == NULL) why = view(in[3], &sin_);
  if (why == NULL && groups < 1) why = "groups must be at least 1";
  if (why == NULL &&
      (dq.dim != 4 || dk.dim != 4 || dq.sizes[0] != dk.sizes[0] || dq.sizes[1] != dk.sizes[1] ||
       dq.sizes[2] != dk.sizes[2] * groups || dq.sizes[3] != dk.sizes[3])) {
    why = "dqr must be (B, KV, groups*T, hd) and dkr (B, KV, T, hd)";
  }
  int64_t hd = 0;
  if (why == NULL) why = check_tables(&cos_, &sin_, dk.sizes[2], &hd);
  if (why == NULL && hd != dk.sizes[3]) why = "cos and sin must be (T, hd), hd that of dkr";
  if (why != NULL) fail(in, 4, "distill::rope_qk_bwd", why);
  const int64_t b = dk.sizes[0], kv = dk.sizes[1], t = dk.sizes[2], g = groups;
  const int64_t qsizes[3] = {b, t, kv * g * hd}, ksizes[3] = {b, t, kv * hd};
  float *dqo, *dko;
  AtenTensorHandle out[2] = {empty(3, qsizes, &dqo), empty(3, ksizes, &dko)};
  if (out[0] == NULL || out[1] == NULL) {
    release(out, 2);
    fail(in, 4, "distill::rope_qk_bwd", "cannot allocate the outputs");
  }
  const float *dqp = dq.data, *dkp = dk.data, *cp = cos_.data, *sp = sin_.data;
  const float fs = (float)scale;
#pragma omp parallel for schedule(static)
  for (int64_t bt = 0; bt < b * t; bt++) {
    const int64_t bi = bt / t, ti = bt % t;
    const float *c = cp + ti * hd, *s = sp + ti * hd;
    float *qrow = dqo + bt * kv * g * hd, *krow = dko + bt * kv * hd;
    for (int64_t j = 0; j < kv; j++) {
      for (int64_t gi = 0; gi < g; gi++) {
        rope_row_t(dqp + (((bi * kv + j) * g + gi) * t + ti) * hd, c, s, fs, hd,
                   qrow + (j * g + gi) * hd);
      }
      rope_row_t(dkp + ((bi * kv + j) * t + ti) * hd, c, s, 1.0f, hd, krow + j * hd);
    }
  }
  release(in, 4);
  stack[0] = (StableIValue)out[0];
  stack[1] = (StableIValue)out[1];
}

/* ---------------------------------------------------------------- registration */

static TorchLibraryHandle def_lib, impl_lib; /* live as long as the process */

__attribute__((constructor)) static void register_ops(void) {
  static const char *schemas[] = {
      "rms_norm_fwd(Tensor x, Tensor w, float eps) -> (Tensor, Tensor)",
      "rms_norm_bwd(Tensor dy, Tensor x, Tensor w, Tensor rstd) -> (Tensor, Tensor)",
      "geglu_fwd(Tensor gate, Tensor up) -> Tensor",
      "geglu_bwd(Tensor dout, Tensor gate, Tensor up) -> (Tensor, Tensor)",
      "softcap_softmax_fwd(Tensor s, Tensor mask, float cap) -> Tensor",
      "softcap_softmax_bwd(Tensor dp, Tensor p, Tensor s, float cap) -> Tensor",
      "add_rms_norm2_fwd(Tensor x, Tensor o, Tensor w1, Tensor w2, float eps)"
      " -> (Tensor, Tensor, Tensor, Tensor)",
      "add_rms_norm2_bwd(Tensor dres, Tensor dy, Tensor o, Tensor x2, Tensor w1, Tensor w2,"
      " Tensor rstd1, Tensor rstd2) -> (Tensor, Tensor, Tensor, Tensor)",
      "rope_qk_fwd(Tensor q, Tensor k, Tensor cos, Tensor sin, float scale, int groups)"
      " -> (Tensor, Tensor)",
      "rope_qk_bwd(Tensor dqr, Tensor dkr, Tensor cos, Tensor sin, float scale, int groups)"
      " -> (Tensor, Tensor)",
  };
  static const char *names[] = {"rms_norm_fwd",        "rms_norm_bwd",       "geglu_fwd",
                                "geglu_bwd",           "softcap_softmax_fwd", "softcap_softmax_bwd",
                                "add_rms_norm2_fwd",   "add_rms_norm2_bwd",
                                "rope_qk_fwd",         "rope_qk_bwd"};
  static const BoxedKernel kernels[] = {rms_norm_fwd, rms_norm_bwd,        geglu_fwd,
                                        geglu_bwd,    softcap_softmax_fwd, softcap_softmax_bwd,
                                        add_rms_norm2_fwd, add_rms_norm2_bwd,
                                        rope_qk_fwd,  rope_qk_bwd};
  if (aoti_torch_library_init_def("distill", __FILE__, __LINE__, &def_lib) ||
      aoti_torch_library_init_impl("distill", "CPU", __FILE__, __LINE__, &impl_lib)) {
    fprintf(stderr, "libdistill_ops: cannot open the torch library 'distill'\n");
    return;
  }
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (aoti_torch_library_def(def_lib, schemas[i]) ||
        aoti_torch_library_impl(impl_lib, names[i], kernels[i])) {
      fprintf(stderr, "libdistill_ops: cannot register distill::%s\n", names[i]);
    }
  }
}
