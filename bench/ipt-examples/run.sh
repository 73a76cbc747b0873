#!/usr/bin/env bash
# The measured examples of docs/instruction-pretraining.md and docs/spec.md#mix (run from /tmp/ipt2-m).
set -euo pipefail
cd /tmp/ipt2-m
R=/tmp/ipt2-e2e
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=268435456
d() { nice -n 10 java -Dai.djl.offline=true -XX:MaxDirectMemorySize=4g -cp "$R/app/target/distill-app.jar:$R/app/target/lib/*" dev.distill.app.cli.DistillCli "$@"; }
date -u; uptime
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
s['dataset']['uri'] = 'file:/tmp/ipt2-m/' + sys.argv[2]
s['dataset']['format'] = sys.argv[3]
print(json.dumps(s))
PY
    d train ev-$arm-$held.json --out out-ev-$arm-$held > log-ev-$arm-$held.txt 2>&1 || { echo "ev $arm $held failed"; tail -20 log-ev-$arm-$held.txt; }
  done
done
date -u; uptime
