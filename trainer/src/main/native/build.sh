#!/usr/bin/env bash
# Builds libdistill_ops.so (the C-shim kernel spike, distill_ops.c) against DJL's libtorch.
# Not part of the Maven build: run it by hand before NativeOpsSpikeTest / NativeOpsBenchmark.
#
#   trainer/src/main/native/build.sh [OUT_DIR]     (default: trainer/target/native)
#
# LIBTORCH_DIR: the directory of DJL's libtorch_cpu.so and its bundled libgomp (default: the one
# DJL extracted under ~/.djl.ai/pytorch/2.7.1-*-cpu-*). The library links that libtorch_cpu.so
# (for the aoti_torch_* shim) and that libgomp, so that its OpenMP threads are libtorch's pool and
# not a second OpenMP runtime in the process.
#
# -march=x86-64-v3 (AVX2 + FMA, any x86-64 CPU since 2013-2015) rather than -march=native: this
# machine has AVX-512, a CI or worker machine may not. DISTILL_OPS_MARCH overrides it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../../../target/native}"
command -v gcc >/dev/null || { echo "build.sh: gcc not found (apt-get install gcc)" >&2; exit 1; }
dir="${LIBTORCH_DIR:-}"
if [ -z "$dir" ]; then
  dir="$(ls -d "$HOME"/.djl.ai/pytorch/2.7.1-*-cpu-linux-x86_64 2>/dev/null | tail -1 || true)"
fi
[ -f "$dir/libtorch_cpu.so" ] || {
  echo "build.sh: no libtorch_cpu.so in '$dir' (set LIBTORCH_DIR, or let DJL extract its libtorch once)" >&2
  exit 1
}
gomp="$(cd "$dir" && ls libgomp*.so* | head -1)"
mkdir -p "$out"
march="${DISTILL_OPS_MARCH:-x86-64-v3}"
# -fno-trapping-math -fno-math-errno: the element-wise loops vectorize only without them (no code
# here reads the floating-point exception flags or errno); not -ffast-math, which would reassociate.
# -fopenmp compiles the pragmas; the link names DJL's libgomp instead of gcc's (no -fopenmp there).
gcc -std=gnu11 -O3 -march="$march" -fno-trapping-math -fno-math-errno -fPIC -fopenmp -fexceptions -Wall -Wextra -Wno-unused-parameter \
  -c "$here/distill_ops.c" -o "$out/distill_ops.o"
gcc -shared -o "$out/libdistill_ops.so" "$out/distill_ops.o" \
  -L"$dir" -l:libtorch_cpu.so -l:"$gomp" -Wl,-rpath,"$dir" -Wl,--no-undefined -lm
echo "$out/libdistill_ops.so"
