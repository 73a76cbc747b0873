#!/usr/bin/env bash
# The measured examples of docs/instruction-pretraining.md and docs/spec.md#mix (usage: run.sh [WORK_DIR]).
set -euo pipefail
# Paths are parameters (they were absolute /tmp/ipt2-m and /tmp/ipt2-e2e paths in the first version):
#   $1 / WORK      the work directory (default ./ipt-work), created; the specs' WORK placeholder
#   DATASETS       the folder of the-verdict.txt and alpaca-style-instructions-1100.json (default: the
#                  shared/datasets found walking up from this checkout)
#   APP_DIR        a directory with distill-app.jar and lib/ (default: app/target of this checkout)
HERE=$(cd "$(dirname "$0")" && pwd)
APP=$(cd "${APP_DIR:-$HERE/../../app/target}" && pwd)
if [ -z "${DATASETS:-}" ]; then
  dir=$HERE; while [ "$dir" != / ] && [ ! -d "$dir/shared/datasets" ]; do dir=$(dirname "$dir"); done
  DATASETS=$dir/shared/datasets
fi
WORK=${1:-${WORK:-ipt-work}}
mkdir -p "$WORK" && cd "$WORK" && WORK=$(pwd)
fill() { sed "s#WORK#$WORK#g; s#DATASETS#$DATASETS#g" "$HERE/$1" > "$1"; }
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=268435456
d() { nice -n 10 java -Dai.djl.offline=true -XX:MaxDirectMemorySize=4g -cp "$APP/distill-app.jar:$APP/lib/*" dev.distill.app.cli.DistillCli "$@"; }
date -u; uptime
python3 "$HERE/gen.py" "$DATASETS"
for f in mix-a mix-b ipt-raw ipt-aug ev-template; do fill $f.json; done
for arm in mix-a mix-b ipt-raw ipt-aug; do
  t0=$SECONDS
  d train $arm.json --out out-$arm > log-$arm.txt 2>&1 || { echo "$arm failed"; tail -20 log-$arm.txt; }
  echo "$arm: $((SECONDS - t0)) s wall"
done
for arm in ipt-raw ipt-aug; do
  ck=$(ls -d out-$arm/checkpoints/step-* | tail -1)
  for held in aug raw; do
    fmt=$([ $held = aug ] && echo augmented || echo text)
    python3 - "$ck" "$held-heldout.jsonl" "$fmt" > ev-$arm-$held.json <<'PY'
import json, sys
s = json.load(open('ev-template.json'))
s['student'] = 'file:' + __import__('os').path.abspath(sys.argv[1])
s['dataset']['uri'] = 'file:' + __import__('os').path.abspath(sys.argv[2])
s['dataset']['format'] = sys.argv[3]
print(json.dumps(s))
PY
    d train ev-$arm-$held.json --out out-ev-$arm-$held > log-ev-$arm-$held.txt 2>&1 || { echo "ev $arm $held failed"; tail -20 log-ev-$arm-$held.txt; }
  done
done
date -u; uptime
