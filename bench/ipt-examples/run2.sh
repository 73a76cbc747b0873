#!/usr/bin/env bash
# The measured example of docs/sequence-kd.md (after run.sh: the teacher is run.sh mix-a student).
set -euo pipefail
cd /tmp/ipt2-m
R=/tmp/ipt2-e2e
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=268435456
d() { nice -n 10 java -Dai.djl.offline=true -XX:MaxDirectMemorySize=4g -cp "$R/app/target/distill-app.jar:$R/app/target/lib/*" dev.distill.app.cli.DistillCli "$@"; }
date -u; uptime
teacher=$(cd out-mix-a/checkpoints && pwd)/$(ls out-mix-a/checkpoints | grep step- | tail -1)
sed "s#TEACHER#$teacher#" kd-syn.json > kd-syn-run.json
t0=$SECONDS; d train kd-syn-run.json --out out-kd-syn > log-kd-syn.txt 2>&1 || { echo syn failed; tail -20 log-kd-syn.txt; }; echo "kd-syn: $((SECONDS-t0)) s"
data=$(ls -d $(pwd)/out-kd-syn/checkpoints/step-*/ | tail -1)data.jsonl
sed "s#SYNDATA#$data#" kd-teacher.json > kd-teacher-run.json
for arm in kd-refs kd-teacher-run; do
  t0=$SECONDS; d train $arm.json --out out-$arm > log-$arm.txt 2>&1 || { echo "$arm failed"; tail -20 log-$arm.txt; }; echo "$arm: $((SECONDS-t0)) s"
done
date -u; uptime
