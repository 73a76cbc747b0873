#!/usr/bin/env python3
"""TrainStepBenchmark's GEMM floor in torch: the same 57 products of one training step of the 2.1M-parameter
benchmark student at batch 8 x 128 (q, k, v, o, gate, up, down and the head: forward, input gradient, weight
gradient; the attention's scores and values: forward and both gradients), on random operands of the same
shapes, back to back; median of the last 10 of 13 rounds. Compare with `TrainStepBenchmark 3 floor` at the same
threads (docs/benchmarks.md):

    NT=2 OMP_NUM_THREADS=2 .venv-interop/bin/python bench/gemm_floor.py
"""
import os
import statistics
import time

import torch

torch.set_num_threads(int(os.environ.get("NT", "2")))
B, T = 8, 128
n, d, inter, qd, kvd, V, KV, G, hd = B * T, 256, 1024, 256, 128, 512, 2, 2, 64
mm = []  # (M, K, N): (M, K) @ (K, N)
for _ in range(2):
    for w in [(d, qd), (d, kvd), (d, kvd), (qd, d), (d, inter), (d, inter), (inter, d)]:
        mm += [(n, w[0], w[1]), (n, w[1], w[0]), (w[1], n, w[0])]
mm += [(n, d, V), (n, V, d), (V, n, d)]
heads, rows = B * KV, G * T
bmm = []  # (batch, M, K, N)
for _ in range(2):
    bmm += [(heads, rows, hd, T), (heads, rows, T, hd), (heads, T, rows, hd),
            (heads, rows, T, hd), (heads, rows, hd, T), (heads, T, rows, hd)]
ops = [(torch.randn(a, b), torch.randn(b, c)) for a, b, c in mm]
ops += [(torch.randn(h, a, b), torch.randn(h, b, c)) for h, a, b, c in bmm]
flops = sum(2 * a * b * c for a, b, c in mm) + sum(2 * h * a * b * c for h, a, b, c in bmm)
rounds = []
for r in range(13):
    t0 = time.perf_counter()
    for a, b in ops:
        torch.matmul(a, b)
    if r >= 3:
        rounds.append((time.perf_counter() - t0) * 1e3)
ms = statistics.median(rounds)
print("torch %s GEMM floor: %d products, %.1f GFLOP, %.1f ms (median of 10), %.0f GFLOP/s"
      % (torch.__version__, len(ops), flops / 1e9, ms, flops / ms / 1e6))
