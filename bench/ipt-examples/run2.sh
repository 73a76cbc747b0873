#!/usr/bin/env bash
# The measured example of docs/sequence-kd.md (usage: run2.sh [WORK_DIR], after run.sh in the same WORK_DIR: the teacher is run.sh's mix-a student).
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
# sft64.jsonl: the first 64 records of alpaca-style-instructions-1100.json, one JSON object a line
python3 -c 'import json,sys; [print(json.dumps(r)) for r in json.load(open(sys.argv[1]))[:64]]' "$DATASETS/alpaca-style-instructions-1100.json" > sft64.jsonl
for f in kd-syn kd-refs kd-teacher; do fill $f.json; done
teacher=$(cd out-mix-a/checkpoints && pwd)/$(ls out-mix-a/checkpoints | grep step- | tail -1)
sed "s#TEACHER#$teacher#" kd-syn.json > kd-syn-run.json
t0=$SECONDS; d train kd-syn-run.json --out out-kd-syn > log-kd-syn.txt 2>&1 || { echo syn failed; tail -20 log-kd-syn.txt; }; echo "kd-syn: $((SECONDS-t0)) s"
data=$(ls -d $(pwd)/out-kd-syn/checkpoints/step-*/ | tail -1)data.jsonl
sed "s#SYNDATA#$data#" kd-teacher.json > kd-teacher-run.json
for arm in kd-refs kd-teacher-run; do
  t0=$SECONDS; d train $arm.json --out out-$arm > log-$arm.txt 2>&1 || { echo "$arm failed"; tail -20 log-$arm.txt; }; echo "$arm: $((SECONDS-t0)) s"
done
date -u; uptime
