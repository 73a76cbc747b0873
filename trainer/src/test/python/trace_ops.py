#!/usr/bin/env python3
"""Sums a PyTorch profiler Chrome trace by operator: total and self time, calls.

Usage: trace_ops.py TRACE.json [top]. Self time = duration minus that of the ops nested in it
(same thread), so the self column adds up to the time spent inside libtorch operators.
"""
import json
import sys
from collections import defaultdict

events = json.load(open(sys.argv[1]))
if isinstance(events, dict):
    events = events.get("traceEvents", [])
top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
ops = [e for e in events if e.get("ph") == "X" and "dur" in e]
by_thread = defaultdict(list)
for e in ops:
    by_thread[(e.get("pid"), e.get("tid"))].append(e)
total = defaultdict(float)
self_time = defaultdict(float)
calls = defaultdict(int)
for evs in by_thread.values():
    evs.sort(key=lambda e: (e["ts"], -e["dur"]))
    stack = []
    for e in evs:
        while stack and stack[-1]["ts"] + stack[-1]["dur"] <= e["ts"]:
            stack.pop()
        if stack:
            self_time[stack[-1]["name"]] -= e["dur"]
        self_time[e["name"]] += e["dur"]
        total[e["name"]] += e["dur"]
        calls[e["name"]] += 1
        stack.append(e)
all_self = sum(self_time.values())
print(f"{'operator':48s} {'calls':>7s} {'self ms':>9s} {'total ms':>9s} {'self %':>7s}")
for name, st in sorted(self_time.items(), key=lambda kv: -kv[1])[:top]:
    print(f"{name[:48]:48s} {calls[name]:7d} {st/1000:9.1f} {total[name]/1000:9.1f} {100*st/all_self:6.1f}%")
print(f"{'all operators (self)':48s} {sum(calls.values()):7d} {all_self/1000:9.1f}")
