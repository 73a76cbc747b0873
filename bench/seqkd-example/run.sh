#!/usr/bin/env bash
# The measured example of docs/sequence-kd.md, "When it helps: a measured example".
# Usage: bench/seqkd-example/run.sh [WORK_DIR] (default: ./seqkd-work); APP_DIR: a directory holding
# distill-app.jar and lib/ (default: app/target of this checkout, built by ./mvnw -o -q -pl app -am package
# -DskipTests). Every job runs in-process through `distill train` (the CLI's local runner), one libtorch
# thread each, two jobs at a time at most (the machine had 2 cores).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
APP=$(cd "${APP_DIR:-$HERE/../../app/target}" && pwd)
WORK=${1:-seqkd-work}
mkdir -p "$WORK" && cd "$WORK" && WORK=$(pwd)
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=268435456
CP="$APP/distill-app.jar:$APP/lib/*"
d() { nice -n 10 java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1 \
        -XX:MaxDirectMemorySize=4g -cp "$CP" dev.distill.app.cli.DistillCli "$@"; }
# spec with its placeholders filled: WORK (this directory), TEACHER (checkpoint), SYNDATA (teacher's answers)
fill() { sed "s#WORK#$WORK#g; s#TEACHER#${TEACHER:-}#g; s#SYNDATA#${SYNDATA:-}#g" "$HERE/$1" > "$1"; }
job() { local spec=$1 out=$2 t0=$SECONDS; fill "$spec"; d train "$spec" --out "$out" > "log-$out.txt" 2>&1 \
          || { echo "$out failed"; tail -20 "log-$out.txt"; exit 1; }; echo "$out: $((SECONDS - t0)) s"; }
last() { ls -d "$WORK/$1"/checkpoints/step-* | sort -t- -k2 -n | tail -1; }
date -u; uptime
nice -n 10 java -cp "$CP" "$HERE/Gen.java" "${NOISE:-0.4}"           # clean.jsonl, noisy.jsonl, prompts.jsonl
job teacher.json teacher & (job student-clean.json clean && job student-noisy.json noisy) & wait
TEACHER=$(last teacher)
job synthesize.json syn
SYNDATA=$(last syn)/data.jsonl
job student-seqkd.json seqkd & job student-seqkd-logits.json seqkd-logits & wait
for m in teacher clean noisy seqkd seqkd-logits; do
  sed "s#MODEL#$(last $m)#" "$HERE/evaluate.json" > "evaluate-$m.json"
  d train "evaluate-$m.json" --out "eval-$m" > "log-eval-$m.txt" 2>&1 || { echo "eval $m failed"; tail -20 "log-eval-$m.txt"; }
done
date -u; uptime
python3 "$HERE/summary.py" .
