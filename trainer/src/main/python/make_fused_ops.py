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

The module holds no tensors, so it runs on any device. The source below is written by hand because
_fused_adamw_ is newer than the torch this machine has for Python (Debian's 1.13): torch.jit.script here
only makes the archive's frame (the pickled module object and the format version), and the code file is
then replaced. Run from the repository root (needs Debian's python3-torch):

    /usr/bin/python3 trainer/src/main/python/make_fused_ops.py \
        trainer/src/main/resources/dev/distill/trainer/fused/fused_ops.pt

The archive is reproducible: running it again writes the same bytes (its top directory is named after the
file, so keep the name). FusedOpsTest checks every method against hand-computed values.
"""
import os
import sys
import tempfile
import zipfile

import torch

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
'''


class FusedOps(torch.nn.Module):
    """The frame: same class name, no tensors, and the GeGLU forward, whose gelu(approximate=...) makes the
    saver record file format version 10, so that libtorch applies no upgrader of older gelu semantics to
    the code. The adamw method is added by SOURCE."""

    def forward(self, gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.gelu(gate, approximate="tanh") * up


def main(out):
    name = os.path.splitext(os.path.basename(out))[0]
    frame = os.path.join(tempfile.mkdtemp(), name + ".pt")
    torch.jit.script(FusedOps()).save(frame)
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
