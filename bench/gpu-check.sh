#!/usr/bin/env bash
# The one script to run on a lent GPU machine (issue 11): a random-weight gemma2-2b student distilled from a
# random-weight gemma2-9b teacher at seq 2048 (bench/gpu-check.json), on --device cuda; it reports tokens/s,
# model FLOPs utilisation against the H100/H200 bf16 dense peak (989 TFLOP/s), and the peak GPU memory against
# `distill plan`. WRITTEN, NEVER RUN: no GPU was lent to the work that wrote it (see docs/gpu.md).
#
# What it needs there, carried in the working tree (64 MiB): app/target/distill-app.jar and app/target/lib/
# without pytorch-native-cpu-*.jar and tokenizers-*.jar (about 15 MiB; build here with
#   ./mvnw -B -o -q -pl app -am package -DskipTests && rm app/target/lib/pytorch-native-cpu-* app/target/lib/tokenizers-*
# and pass carry=["app/target"]). On the machine: a JDK or JRE 17+ and a PyTorch 2.7.1 CUDA build (DJL 0.36's JNI
# is built against libtorch 2.7.1; the image's torch 2.11 is ABI-incompatible with it). Stage 1 checks both and
# stops, saying which is missing, before anything long runs.
#
# Usage: bench/gpu-check.sh [OUT_DIR]   (on the device tool, OUT_DIR defaults to $OUT)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="${1:-${OUT:-/tmp/gpu-check}}"
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/gpu-check.txt"
exec > >(tee "$LOG") 2>&1
PEAK_TFLOPS=989   # bf16 dense, H100/H200 SXM

echo "== stage 1: what this machine has"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || { echo "no nvidia-smi: no GPU"; exit 2; }
JAVA="$(command -v java || true)"
if [ -z "$JAVA" ]; then
  for j in /usr/lib/jvm/*/bin/java /opt/java/*/bin/java /usr/local/*/bin/java; do [ -x "$j" ] && JAVA="$j" && break; done
fi
if [ -z "$JAVA" ]; then
  echo "RESULT: no Java runtime on this machine (searched PATH, /usr/lib/jvm, /opt/java, /usr/local)."
  echo "A real GPU host needs docker/worker-cuda.Dockerfile's image: Temurin 17 JRE + the torch 2.7.1 cu128 wheel."
  exit 2
fi
"$JAVA" -version 2>&1 | head -1
PY="$(command -v python3 || command -v python || true)"
TORCH_INFO="$([ -n "$PY" ] && "$PY" -c 'import torch,os;print(torch.__version__, torch.version.cuda, os.path.dirname(torch.__file__)+"/lib")' 2>/dev/null || true)"
echo "python torch: ${TORCH_INFO:-none}"
read -r TORCH_VERSION TORCH_CUDA TORCH_LIB <<<"${TORCH_INFO:-none none none}"
case "$TORCH_VERSION" in
  2.7.1*) ;;
  *) echo "RESULT: torch $TORCH_VERSION here; DJL 0.36's JNI needs libtorch 2.7.1 (a cu12x build). Not run."
     echo "A real GPU host needs: pip install torch==2.7.1 --index-url https://download.pytorch.org/whl/cu128"
     exit 3 ;;
esac
export PYTORCH_LIBRARY_PATH="$TORCH_LIB" PYTORCH_VERSION=2.7.1 PYTORCH_FLAVOR="cu${TORCH_CUDA//./}"
CP="$ROOT/app/target/distill-app.jar:$ROOT/app/target/lib/*"
DISTILL=("$JAVA" -Dai.djl.offline=true -XX:MaxDirectMemorySize=32g -cp "$CP" dev.distill.app.cli.DistillCli)
SPEC="$ROOT/bench/gpu-check.json"

echo "== stage 2: the plan (bf16-mixed, the spec's precision and the CUDA default)"
GPU_MIB=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1)
"${DISTILL[@]}" plan "$SPEC" --precision bf16-mixed --device-memory-gib "$(awk "BEGIN{print $GPU_MIB/1024}")" || exit 4
"${DISTILL[@]}" plan "$SPEC" --precision bf16-mixed -o json > "$OUT_DIR/plan.json" || exit 4

echo "== stage 3: train 12 steps on cuda, sampling GPU memory every 200 ms"
( while true; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1; sleep 0.2; done ) \
  > "$OUT_DIR/memory-mib.txt" &
SAMPLER=$!
timeout 480 "${DISTILL[@]}" train "$SPEC" --out "$OUT_DIR/run" --device cuda > "$OUT_DIR/train.txt" 2>&1
RC=$?
kill "$SAMPLER" 2>/dev/null
tail -20 "$OUT_DIR/train.txt"
[ "$RC" -eq 0 ] || { echo "RESULT: training failed (exit $RC); see train.txt"; exit 5; }

echo "== stage 4: numbers"
PEAK_MIB=$(sort -n "$OUT_DIR/memory-mib.txt" | tail -1)
PLAN_BYTES=$("$PY" -c 'import json,sys;print(json.load(open(sys.argv[1]))["total_bytes"])' "$OUT_DIR/plan.json")
# tokens/s of the last logged step (TrainCommand prints "step N/M ... X tok/s"); the first steps warm up
TOKS=$(grep -o '[0-9.]* tok/s' "$OUT_DIR/train.txt" | tail -1 | cut -d' ' -f1)
"$PY" - "$TOKS" "$PEAK_MIB" "$PLAN_BYTES" "$PEAK_TFLOPS" <<'PY'
import sys
toks, peak_mib, plan, peak_tflops = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
n_student, n_teacher = 2_614_341_888, 9_241_705_984  # gemma2-2b, gemma2-9b (spec.plan.ModelShape)
# model FLOPs per token: 6 N for the student's forward and backward, 2 N for the teacher's forward;
# attention and the checkpointed recomputation are not counted (the usual MFU convention)
flops = toks * (6 * n_student + 2 * n_teacher)
print(f"tokens/s {toks:,.0f}")
print(f"MFU {flops / (peak_tflops * 1e12):.1%} of {peak_tflops:.0f} TFLOP/s bf16 (bf16-mixed compute)")
measured = peak_mib * 2**20
print(f"peak GPU memory {measured / 2**30:.2f} GiB (nvidia-smi, includes the CUDA context); plan {plan / 2**30:.2f} GiB; measured/plan {measured / plan:.3f}")
PY
