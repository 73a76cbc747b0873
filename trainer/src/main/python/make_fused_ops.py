#!/usr/bin/env python3
"""Writes fused_ops.pt: the TorchScript module behind dev.distill.trainer.fused.FusedOps.

DJL's native interface reaches libtorch op by op, so work that libtorch has as one kernel but DJL does not
expose costs many passes over memory when composed in Java. A TorchScript module is how DJL reaches those
kernels: the archive holds TorchScript source, which the libtorch that loads it (2.7.1 here) compiles. Its
methods:

  forward(gate, up)  GeGLU's product gelu_pytorch_tanh(gate) * up: gelu(approximate="tanh") is one kernel
                     forward and one (gelu_backward) backward, against about six and a dozen passes composed.
  adamw(...)         torch._fused_adamw_, PyTorch's own fused AdamW: one pass over each parameter, its
                     gradient and moments, against about fourteen composed.
  linear_bf16(x, w)  bf16-mixed: x @ w^T with both cast to bf16 inside and the product cast back to fp32,
                     so DJL (whose JNI aborts on any bf16 tensor) only ever sees fp32; autograd records
                     the casts, so an fp32 master weight gets an fp32 gradient.
  matmul_bf16(a, b)  the same for a @ b (attention scores and probabilities times values).
  frozen_linear(x, w), frozen_linear_low(x, w), frozen_embedding(ids, w)
                     a frozen teacher's 2-byte weights: w is either the bf16 bits held as int8 pairs
                     (shape (..., 2n): DJL has no bf16 and aborts on int16) or a native float16 tensor.
                     torch.view_copy(w, dtype=bfloat16) reinterprets the bits (a copy of one weight while
                     the op runs: the zero-copy view(dtype) overload does not resolve in TorchScript on
                     libtorch 2.7.1). frozen_linear computes in fp32 (the weight upcast, exactly: equal
                     to an fp32 copy of the same weights), frozen_linear_low in the weight's own dtype.
  bf16_float(w), bf16_bits(x)
                     pure bf16's storage: bf16_float upcasts 2-byte weights (int8-pair bf16 bits, or float16)
                     to fp32, exactly; bf16_bits rounds fp32 to bf16 (round to nearest even, torch's cast)
                     and returns its bits as int8 pairs (..., 2n), the layout the weights are held in.
  sdpa(q, k, v, mask), sdpa_bf16(q, k, v, mask)
                     torch's scaled_dot_product_attention (flash kernel where it applies), scale 1 (the
                     caller scales q), additive fp32 mask; backward through autograd. No soft-cap.
  linear3(x, a, b, c) fp32 q/k/v projections as one product: x @ cat(a, b, c)^T, split into the three
                     outputs (views). One GEMM forward, one for the input gradient (no sum of three),
                     one for the weights' gradients (split_with_sizes' backward is a cat).
  geglu_linear(x, gate, up)
                     fp32 gate and up projections as one product, then GeGLU: gelu_tanh(x gate^T) *
                     (x up^T) from the two halves of x @ cat(gate, up)^T.

The module holds no tensors, so it runs on any device. The source below is written by hand (dtypes as
their c10 ScalarType numbers: 1 int8, 6 float32, 15 bfloat16) because _fused_adamw_ is newer than the
torch this machine had for Python (Debian's 1.13): torch.jit.script only makes the archive's frame (the
pickled module object and the format version), and the code file is then replaced. When OUT exists
already, its frame is kept and only the code replaced, which needs no torch at all. Run from the
repository root:

    python3 trainer/src/main/python/make_fused_ops.py \
        trainer/src/main/resources/dev/distill/trainer/fused/fused_ops.pt

The archive is reproducible: running it again writes the same bytes (its top directory is named after the
file, so keep the name). The tests of each method: GegluTest, AdamWTest, FrozenTeacherTest (frozen_*),
FusedAttentionTest (sdpa, sdpa_bf16 against matmul_bf16), PrecisionTrainingTest (linear_bf16, matmul_bf16),
MergedProductsTest (linear3, geglu_linear), PureBf16Test (bf16_float, bf16_bits).
"""
import os
import shutil
import sys
import tempfile
import zipfile

SOURCE = '''class FusedOps(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  _is_full_backward_hook : Optional[bool]
  def forward(self: __torch__.FusedOps,
    gate: Tensor,
    up: Tensor) -> Tensor:
    return torch.mul(torch.gelu(gate, approximate="tanh"), up)
  def adamw(self: __torch__.FusedOps,
    params: List[Tensor],
    grads: List[Tensor],
    exp_avgs: List[Tensor],
    exp_avg_sqs: List[Tensor],
    steps: List[Tensor],
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
    eps: float) -> int:
    no_max_exp_avg_sqs: List[Tensor] = []
    torch._fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, no_max_exp_avg_sqs, steps, lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay, eps=eps, amsgrad=False, maximize=False)
    return len(params)
  def linear_bf16(self: __torch__.FusedOps,
    x: Tensor,
    w: Tensor) -> Tensor:
    return torch.to(torch.matmul(torch.to(x, 15), torch.t(torch.to(w, 15))), 6)
  def matmul_bf16(self: __torch__.FusedOps,
    a: Tensor,
    b: Tensor) -> Tensor:
    return torch.to(torch.matmul(torch.to(a, 15), torch.to(b, 15)), 6)
  def frozen_linear(self: __torch__.FusedOps,
    x: Tensor,
    w: Tensor) -> Tensor:
    v = w
    if torch.eq(ops.prim.dtype(w), 1):
      v = torch.view_copy(w, dtype=15)
    return torch.matmul(x, torch.t(torch.to(v, 6)))
  def frozen_linear_low(self: __torch__.FusedOps,
    x: Tensor,
    w: Tensor) -> Tensor:
    v = w
    if torch.eq(ops.prim.dtype(w), 1):
      v = torch.view_copy(w, dtype=15)
    return torch.to(torch.matmul(torch.to(x, ops.prim.dtype(v)), torch.t(v)), 6)
  def frozen_embedding(self: __torch__.FusedOps,
    ids: Tensor,
    w: Tensor) -> Tensor:
    v = w
    if torch.eq(ops.prim.dtype(w), 1):
      v = torch.view_copy(w, dtype=15)
    return torch.to(torch.embedding(v, ids), 6)
  def bf16_float(self: __torch__.FusedOps,
    w: Tensor) -> Tensor:
    v = w
    if torch.eq(ops.prim.dtype(w), 1):
      v = torch.view_copy(w, dtype=15)
    return torch.to(v, 6)
  def bf16_bits(self: __torch__.FusedOps,
    x: Tensor) -> Tensor:
    return torch.view_copy(torch.to(x, 15), dtype=1)
  def sdpa(self: __torch__.FusedOps,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor) -> Tensor:
    return torch.scaled_dot_product_attention(q, k, v, mask, 0., False, scale=1.)
  def sdpa_bf16(self: __torch__.FusedOps,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor) -> Tensor:
    out = torch.scaled_dot_product_attention(torch.to(q, 15), torch.to(k, 15), torch.to(v, 15), torch.to(mask, 15), 0., False, scale=1.)
    return torch.to(out, 6)
  def linear3(self: __torch__.FusedOps,
    x: Tensor,
    a: Tensor,
    b: Tensor,
    c: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    y = torch.matmul(x, torch.t(torch.cat([a, b, c])))
    parts = torch.split_with_sizes(y, [torch.size(a, 0), torch.size(b, 0), torch.size(c, 0)], -1)
    return (parts[0], parts[1], parts[2])
  def geglu_linear(self: __torch__.FusedOps,
    x: Tensor,
    gate: Tensor,
    up: Tensor) -> Tensor:
    y = torch.matmul(x, torch.t(torch.cat([gate, up])))
    parts = torch.chunk(y, 2, -1)
    return torch.mul(torch.gelu(parts[0], approximate="tanh"), parts[1])
'''


def make_frame(frame):
    """Writes the frame with torch.jit.script (only needed when there is no earlier archive)."""
    import torch

    class FusedOps(torch.nn.Module):
        """The frame: same class name, no tensors, and the GeGLU forward, whose gelu(approximate=...) makes the
        saver record file format version 10, so that libtorch applies no upgrader of older gelu
        semantics to the code. The other methods are added by SOURCE."""

        def forward(self, gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.gelu(gate, approximate="tanh") * up

    torch.jit.script(FusedOps()).save(frame)


def main(out):
    name = os.path.splitext(os.path.basename(out))[0]
    frame = os.path.join(tempfile.mkdtemp(), name + ".pt")
    if os.path.isfile(out):
        shutil.copyfile(out, frame)  # keep the existing frame
    else:
        make_frame(frame)
    with zipfile.ZipFile(frame) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            if info.filename.endswith(".debug_pkl"):
                continue  # source ranges of the frame's code, which is replaced
            data = src.read(info.filename)
            if info.filename.endswith("/code/__torch__.py"):
                data = SOURCE.encode("utf-8")
            info.filename = name + "/" + info.filename.split("/", 1)[1]
            dst.writestr(info, data)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_fused_ops.py OUT.pt")
    main(sys.argv[1])
