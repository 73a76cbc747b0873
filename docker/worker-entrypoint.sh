#!/bin/sh
# `distill <command> ...` inside the worker image. DISTILL_TOKEN may come from a file (DISTILL_TOKEN_FILE, e.g.
# a mounted Secret or the compose worker-token volume). JAVA_OPTS carries JVM flags; -Dai.djl.offline=true is
# always set. exec: the JVM is PID 1, so SIGTERM reaches the worker's checkpoint-and-release path.
set -eu
if [ -z "${DISTILL_TOKEN:-}" ] && [ -n "${DISTILL_TOKEN_FILE:-}" ]; then
  DISTILL_TOKEN=$(cat "$DISTILL_TOKEN_FILE")
  export DISTILL_TOKEN
fi
# glibc malloc: keep freed tensor memory for reuse instead of handing it back to the OS and faulting it in
# again at every step (about 10% faster training steps, docs/benchmarks.md). Values set by the caller win.
export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-4294967296}"
export MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-68719476736}"
export MALLOC_TOP_PAD_="${MALLOC_TOP_PAD_:-268435456}"
# TF32 for fp32 matmuls on CUDA: libtorch reads TORCH_ALLOW_TF32_CUBLAS_OVERRIDE (only the value 1 turns it on)
# once, when its global context is made, and then runs fp32 cuBLAS GEMMs (matmul, linear, bmm) on TF32 tensor
# cores where the GPU has them (Ampere and later); bf16 matmuls and the CPU are untouched. A process cannot
# set it for itself after start, so it is set here, for a --device cuda or cuda:N run. A value the caller set
# wins (0 keeps full fp32). docs/gpu.md.
device=""
prev=""
for arg in "$@"; do
  case "$prev" in --device) device="$arg" ;; esac
  case "$arg" in --device=*) device="${arg#--device=}" ;; esac
  prev="$arg"
done
case "$device" in
  cuda | cuda:*) export TORCH_ALLOW_TF32_CUBLAS_OVERRIDE="${TORCH_ALLOW_TF32_CUBLAS_OVERRIDE:-1}" ;;
esac
# shellcheck disable=SC2086
exec java -Dai.djl.offline=true ${JAVA_OPTS:-} \
  -cp "/opt/distill/distill-app.jar:/opt/distill/lib/*" dev.distill.app.cli.DistillCli "$@"
