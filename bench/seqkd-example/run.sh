#!/usr/bin/env bash
# The measured examples of docs/sequence-kd.md, "When it helps: a measured example".
# Usage: bench/seqkd-example/run.sh [WORK_DIR] (default ./seqkd-work). APP_DIR: a directory holding
# distill-app.jar and lib/ (default: app/target of this checkout, from ./mvnw -o -q -pl app -am package
# -DskipTests). Every job runs in-process through `distill train` (the CLI's local runner), one libtorch
# thread each (two OpenMP pools of two threads on two cores spin against each other), two jobs at a time.
# Two studies, each in its own folder:
#   all-tasks/  the 25 procedural tasks, 40% label noise on the one-answer tasks (Gen.java; specs without
#               a prefix): the teacher turned out worse than the noisy labels (the negative reading);
#   six-tasks/  six one-answer tasks the teacher learns, 50% label noise (Gen2.java; specs e-*).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
APP=$(cd "${APP_DIR:-$HERE/../../app/target}" && pwd)
ROOT=${1:-seqkd-work}
mkdir -p "$ROOT" && ROOT=$(cd "$ROOT" && pwd)
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=268435456
CP="$APP/distill-app.jar:$APP/lib/*"
d() { nice -n 10 java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1 \
        -XX:MaxDirectMemorySize=4g -cp "$CP" dev.distill.app.cli.DistillCli "$@"; }
# a spec with its placeholders filled: WORK (the study's folder), TEACHER (checkpoint), SYNDATA, MODEL
fill() { sed "s#WORK#$WORK#g; s#TEACHER#${TEACHER:-}#g; s#SYNDATA#${SYNDATA:-}#g; s#MODEL#${MODEL:-}#g" "$HERE/$1" > "$2"; }
job() { local t0=$SECONDS; fill "$1" "$2.json"; d train "$2.json" --out "$2" > "log-$2.txt" 2>&1 \
          || { echo "$2 failed"; tail -20 "log-$2.txt"; exit 1; }; echo "$2: $((SECONDS - t0)) s"; }
last() { ls -d "$WORK/$1"/checkpoints/step-* | sort | tail -1; }
study() { # folder, spec prefix, generator, its arguments
  local dir=$1 p=$2 gen=$3; shift 3
  WORK=$ROOT/$dir; mkdir -p "$WORK"; cd "$WORK"; date -u; uptime
  nice -n 10 java -cp "$CP" "$HERE/$gen" "$@"
  job ${p}teacher.json teacher & (job ${p}student-clean.json clean && job ${p}student-noisy.json noisy) & wait
  TEACHER=$(last teacher)
  job ${p}synthesize.json syn
  SYNDATA=$(last syn)/data.jsonl
  job ${p}student-seqkd.json seqkd & job ${p}student-seqkd-logits.json seqkd-logits & wait
  for m in teacher clean noisy seqkd seqkd-logits; do MODEL=$(last $m) job ${p}evaluate.json eval-$m; done
  date -u; uptime
  python3 "$HERE/summary.py" "$WORK" "$p"
}
study all-tasks "" Gen.java 0.4
study six-tasks e- Gen2.java 0.5 600
