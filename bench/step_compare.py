#!/usr/bin/env python3
"""Our training steps against Hugging Face transformers' Gemma2ForCausalLM, side by side in one run.

Same machine, same model (TrainStepBenchmark's 2.1M-parameter student: d 256, MLP 1024, 2 layers, 4/2 heads
of 64, vocab 512, soft-caps 50/30, sliding window 128), batch 8 x 128, same threads (BENCH_THREADS intra-op, default 2; 1 inter-op
on both sides), fp32. Rounds alternate: our JVM (dev.distill.trainer.bench.StepCompareBenchmark round: our
finetune, online distill, cached distill, LoRA steps through the real recipe) in lockstep with this process's
steps (transformers eager and torch.compile): after each of our measured steps the JVM waits while this process
runs one step of each anchor of that kind (finetune, or online distill; cached distill is paired with the distill
anchors, LoRA with the finetune ones), so each ratio compares steps taken seconds apart. Each kind of ours runs a
throwaway warm-up run first in its JVM (-Dbench.jvm_warmup, 60 steps), then 3 unmeasured steps, then --steps.

The anchors' steps, as our recipe computes them:
  finetune: logits, cross-entropy summed over positions / tokens, backward, clip_grad_norm_(1.0),
            AdamW(fused=True, lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 0.01 on the projections only).
  distill:  the teacher (same shape) forward under no_grad, the student forward, forward KL at T = 1 with
            kd_ratio 1 (loss = sum_pos KL(P_t || Q_s) / tokens), cross-entropy computed without grad for the
            log line, then the same backward, clipping and AdamW.
Our recipe additionally masks packed documents (block-diagonal attention), reads and packs its batches and
logs: the anchors use random ids, one causal mask, and nothing else.

Usage (repository root, after test-compile and dependency:build-classpath into trainer/cp.txt):
    nice -n 10 .venv-interop/bin/python bench/step_compare.py [--rounds 3] [--steps 15] [--e2e-steps 15] [--native]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

THREADS = int(os.environ.get("BENCH_THREADS", "2"))
B, T = 8, 128

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def java_cmd(args, main_classes=None, prefix="ours", options=()):
    trainer = os.path.join(ROOT, "trainer")
    cp = "%s:%s/target/test-classes:%s" % (
        main_classes or trainer + "/target/classes", trainer,
        open(os.path.join(trainer, "cp.txt")).read().strip())
    return ["java", "-Dbench.prefix=" + prefix] + list(options) + ["-Xmx3g", "-XX:MaxDirectMemorySize=4g", "-Dai.djl.offline=true",
            "-Dai.djl.pytorch.num_threads=%d" % THREADS, "-Dai.djl.pytorch.num_interop_threads=1",
            "-cp", cp, "dev.distill.trainer.bench.StepCompareBenchmark"] + args


def java_env():
    """glibc keeps freed tensors' memory (no mmap per allocation, no trimming), as the ./distill launcher sets it."""
    return dict(os.environ, MALLOC_MMAP_THRESHOLD_="4294967296", MALLOC_TRIM_THRESHOLD_="68719476736",
                MALLOC_TOP_PAD_="268435456", OMP_NUM_THREADS=str(THREADS))


def run_java(args, main_classes=None, prefix="ours", options=()):
    env = java_env()
    p = subprocess.run(java_cmd(args, main_classes, prefix, options), cwd=os.path.join(ROOT, "trainer"), env=env, capture_output=True,
                       text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-4000:] + p.stderr[-4000:])
        raise SystemExit("java %s failed (%d)" % (args[0], p.returncode))
    out = []
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            out.append(json.loads(line[len("RESULT "):]))
    return out


# the anchors run beside each kind of our steps in lockstep (cached distill against the distill anchors,
# LoRA against the finetune ones)
PAIRED = {"finetune": ("hf_eager_finetune", "hf_compile_finetune"),
          "online": ("hf_eager_distill", "hf_compile_distill"),
          "cached": ("hf_eager_distill", "hf_compile_distill"),
          "lora": ("hf_eager_finetune", "hf_compile_finetune")}
RESULT_NAME = {"finetune": "finetune", "online": "distill_online", "cached": "distill_cached", "lora": "lora"}


def run_java_lockstep(args, anchors, record, main_classes=None, prefix="ours", options=()):
    """A round of our JVM in lockstep (-Dbench.lockstep=true): after each of its measured steps, one step of each
    paired anchor, recorded by record(our_name, anchor_name, wall_ms, cpu_ms); the JVM waits meanwhile."""
    env = java_env()
    with tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(java_cmd(args, main_classes, prefix, list(options) + ["-Dbench.lockstep=true"]),
                             cwd=os.path.join(ROOT, "trainer"), env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1)
        out = []
        for line in p.stdout:
            if line.startswith("STEP "):
                _, kind, measured = line.split()
                if measured == "1":
                    time.sleep(0.005)  # the JVM's OpenMP threads stop spinning
                    for a in PAIRED[kind]:
                        w, c = anchors.step(a)
                        record("%s_%s" % (prefix, RESULT_NAME[kind]), a, w, c)
                p.stdin.write("go\n")
                p.stdin.flush()
            elif line.startswith("RESULT "):
                out.append(json.loads(line[len("RESULT "):]))
        if p.wait() != 0:
            err.seek(0)
            sys.stderr.write(err.read()[-4000:])
            raise SystemExit("java %s failed (%d)" % (args[0], p.returncode))
    return out


def loadavg():
    return open("/proc/loadavg").read().split()[:3]


class Anchors:
    """transformers eager and torch.compile, finetune and online distill."""

    def __init__(self, batch):
        import torch
        from transformers import Gemma2Config, Gemma2ForCausalLM
        self.torch = torch
        torch.set_num_threads(THREADS)
        cfg = Gemma2Config(vocab_size=512, hidden_size=256, intermediate_size=1024, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, head_dim=64, query_pre_attn_scalar=64,
                           sliding_window=128, max_position_embeddings=2048, rms_norm_eps=1e-6, rope_theta=10000.0,
                           attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
                           hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True,
                           attn_implementation="eager", dtype=torch.float32)
        if batch is None:  # random ids, every position in the loss
            g = torch.Generator().manual_seed(7)
            ids = torch.randint(0, 512, (B, T + 1), generator=g)
            self.inputs, self.labels = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()
        else:  # our first training batch: its ids, and -100 where our loss mask is 0
            self.inputs = torch.tensor(batch["input_ids"]).reshape(B, T)
            mask = torch.tensor(batch["loss_mask"]).reshape(B, T) > 0
            self.labels = torch.where(mask, torch.tensor(batch["labels"]).reshape(B, T), -100)
        self.mask = (self.labels >= 0).to(torch.float32)
        self.tokens = int(self.mask.sum().item())
        self.steps = {}
        for compiled in (False, True):
            for kind in ("finetune", "distill"):
                torch.manual_seed(1)
                student = Gemma2ForCausalLM(cfg).train()
                teacher = None
                if kind == "distill":
                    torch.manual_seed(2)
                    teacher = Gemma2ForCausalLM(cfg).eval()
                    for p in teacher.parameters():
                        p.requires_grad_(False)
                decay = [p for n, p in student.named_parameters() if n.endswith("proj.weight")]
                rest = [p for n, p in student.named_parameters() if not n.endswith("proj.weight")]
                opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                                         {"params": rest, "weight_decay": 0.0}],
                                        lr=1e-3, betas=(0.9, 0.999), eps=1e-8, fused=True)
                loss_fn = self.loss_fn(student, teacher)
                if compiled:
                    loss_fn = torch.compile(loss_fn)
                name = "hf_%s_%s" % ("compile" if compiled else "eager", kind)
                self.steps[name] = (student, opt, loss_fn)

    def loss_fn(self, student, teacher):
        torch = self.torch
        F = torch.nn.functional
        tokens = self.tokens
        mask = self.mask

        def finetune(inputs, labels):
            logits = student(input_ids=inputs).logits  # (B, T, V)
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                   reduction="sum", ignore_index=-100) / tokens

        def distill(inputs, labels):
            with torch.no_grad():
                t_logits = teacher(input_ids=inputs).logits
            logits = student(input_ids=inputs).logits
            log_q = F.log_softmax(logits, -1)
            log_p = F.log_softmax(t_logits, -1)
            kd = ((log_p.exp() * (log_p - log_q)).sum(-1) * mask).sum() / tokens
            with torch.no_grad():
                ce = F.cross_entropy(logits.detach().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                     reduction="sum", ignore_index=-100) / tokens
            return kd + 0.0 * ce.detach()

        return distill if teacher is not None else finetune

    def step(self, name):
        torch = self.torch
        student, opt, loss_fn = self.steps[name]
        t0 = time.perf_counter()
        c0 = time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(self.inputs, self.labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        loss.item()
        return (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3


def summary(vals):
    vals = sorted(vals)
    q = statistics.quantiles(vals, n=4) if len(vals) >= 4 else [vals[0], statistics.median(vals), vals[-1]]
    return statistics.median(vals), q[0], q[2], vals[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--e2e-steps", type=int, default=15)
    ap.add_argument("--no-java", action="store_true")
    ap.add_argument("--native", action="store_true",
                    help="also run our finetune and online distill steps on the native path"
                    " (-Ddistill.native_kernels=true) as native_* in every round, after ours")
    ap.add_argument("--base-classes", help="trainer/target/classes of an earlier commit: its finetune and online"
                    " distill steps run as base_* in every round, before ours")
    ap.add_argument("--native-only", action="store_true",
                    help="with --native: skip our composed kinds; with --base-classes: run the earlier commit's"
                    " finetune and online distill steps on the native path too")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="step-compare-")
    print("start %s UTC, load %s, threads %d, batch %dx%d" % (
        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), loadavg(), THREADS, B, T), flush=True)
    batch = None
    if not a.no_java:
        run_java(["setup", work])
        batch = json.load(open(os.path.join(work, "batch.json")))
    anchors = Anchors(batch)
    print("anchor batch: %d loss tokens of %d positions" % (anchors.tokens, B * T), flush=True)
    import torch
    import transformers
    print("torch %s, transformers %s" % (torch.__version__, transformers.__version__), flush=True)
    t0 = time.perf_counter()
    for name in anchors.steps:  # warm-up, compiles the compiled ones
        for _ in range(a.warmup):
            anchors.step(name)
    print("anchor warm-up (torch.compile included) %.0f s" % (time.perf_counter() - t0), flush=True)
    samples = {}
    cpu = {}
    round_medians = {}
    paired = {}  # (ours, anchor) -> the anchor's wall ms measured in lockstep with ours
    pair_ratios = {}  # (ours, anchor) -> anchor step / the step of ours just before it
    paired_cpu = {}

    def record(ours, anchor, w, c):
        samples.setdefault(anchor, []).append(w)
        cpu.setdefault(anchor, []).append(c)
        paired.setdefault((ours, anchor), []).append(w)
        paired_cpu.setdefault((ours, anchor), []).append(c)
        this_round.setdefault(anchor, []).append(w)
        this_round.setdefault((ours, anchor), []).append(w)

    def take(results):
        for res in results:
            samples.setdefault(res["name"], []).extend(res["ms"])
            cpu.setdefault(res["name"], []).extend(res["cpu_ms"])
            this_round[res["name"]] = res["ms"]

    for r in range(1, a.rounds + 1):
        this_round = {}
        if a.base_classes:
            take(run_java_lockstep(["round", work, str(a.steps), "finetune,online"], anchors, record,
                                   a.base_classes, "base",
                                   options=["-Ddistill.native_kernels=true"] if a.native_only else []))
        if not a.no_java and not a.native_only:
            take(run_java_lockstep(["round", work, str(a.steps)], anchors, record))
        if a.native and not a.no_java:
            take(run_java_lockstep(["round", work, str(a.steps), "finetune,online"], anchors, record,
                                   prefix="native", options=["-Ddistill.native_kernels=true"]))
        if a.no_java:
            for _ in range(a.steps):
                for n in anchors.steps:
                    w, c = anchors.step(n)
                    record("none", n, w, c)
        for k, v in this_round.items():
            round_medians.setdefault(k, []).append(statistics.median(v))
            if isinstance(k, tuple) and k[0] in this_round:  # anchor / ours, step by step in lockstep
                pair_ratios.setdefault(k, []).extend(x / y for x, y in zip(v, this_round[k[0]]))
        print("round %d done %s UTC, load %s: %s" % (
            r, time.strftime("%H:%M:%S", time.gmtime()), loadavg(),
            ", ".join("%s %.1f" % (n, m[-1]) for n, m in round_medians.items() if isinstance(n, str))),
            flush=True)
    print("\nstep times, ms (all measured steps of all rounds; round medians in brackets)")
    med = {}
    for n, v in samples.items():
        m, q1, q3, lo = summary(v)
        med[n] = m
        print("  %-22s median %7.1f  IQR %7.1f-%7.1f  min %7.1f  n %3d  [%s]" % (
            n, m, q1, q3, lo, len(v), " ".join("%.1f" % x for x in round_medians[n])))
    print("process CPU time per step, ms (all threads; Java's clock ticks in 10 ms)")
    cmed = {}
    for n, v in cpu.items():
        m, q1, q3, lo = summary(v)
        cmed[n] = m
        print("  %-22s median %7.1f  IQR %7.1f-%7.1f" % (n, m, q1, q3))
    print("\nspeed ratios (anchor median / ours median; > 1 means ours is faster)")
    pairs = [("base_finetune", "hf_eager_finetune"), ("base_finetune", "hf_compile_finetune"),
             ("base_distill_online", "hf_eager_distill"), ("base_distill_online", "hf_compile_distill"),
             ("ours_finetune", "base_finetune"), ("ours_distill_online", "base_distill_online"),
             ("ours_finetune", "hf_eager_finetune"), ("ours_finetune", "hf_compile_finetune"),
             ("ours_distill_online", "hf_eager_distill"), ("ours_distill_online", "hf_compile_distill"),
             ("ours_distill_cached", "hf_eager_distill"), ("ours_distill_cached", "hf_compile_distill"),
             ("native_finetune", "ours_finetune"), ("native_distill_online", "ours_distill_online"),
             ("native_finetune", "base_finetune"), ("native_distill_online", "base_distill_online"),
             ("native_finetune", "hf_eager_finetune"), ("native_finetune", "hf_compile_finetune"),
             ("native_distill_online", "hf_eager_distill"), ("native_distill_online", "hf_compile_distill")]
    for ours, anchor in pairs:
        if ours in med and anchor in med:
            # against the anchor's steps taken in lockstep with ours where there are any, else all of them
            key = (ours, anchor) if (ours, anchor) in paired else anchor
            am = statistics.median(paired[key]) if key in paired else med[anchor]
            acm = statistics.median(paired_cpu[key]) if key in paired_cpu else cmed[anchor]
            per_round = [x / y for x, y in zip(round_medians[key], round_medians[ours])]
            print("  %-20s vs %-20s %.2fx wall  (per round %s); %.2fx CPU%s" % (
                ours, anchor, am / med[ours], " ".join("%.2f" % x for x in per_round),
                acm / cmed[ours], "" if key == anchor else
                "  [lockstep: anchor %.1f ms; median of the %d step pairs' ratios %.2fx, IQR %.2f-%.2f]" % (
                    (am, len(pair_ratios[key])) + tuple(summary(pair_ratios[key])[i] for i in (0, 1, 2)))))
    if "ours_distill_cached" in med:
        print("  cached distill / our finetune: %.3f (goal <= 1.10)" % (
            med["ours_distill_cached"] / med["ours_finetune"]))
        print("  LoRA / full finetune step: %.3f" % (med["ours_lora"] / med["ours_finetune"]))
        print("  online / cached distill: %.3f" % (med["ours_distill_online"] / med["ours_distill_cached"]))
    if not a.no_java and a.e2e_steps > 0:
        e = run_java(["e2e", work, str(a.e2e_steps)])[0]
        cached = e["pass_s"] + sum(e["cached_s"])
        online = sum(e["online_s"])
        print("\nend to end, two students of %d steps each: one teacher pass %.1f s + cached %s s = %.1f s;"
              " two online runs %s s = %.1f s; ratio cached/online %.3f" % (
                  e["steps"], e["pass_s"], "+".join("%.1f" % x for x in e["cached_s"]), cached,
                  "+".join("%.1f" % x for x in e["online_s"]), online, cached / online))
    print("end %s UTC, load %s" % (time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), loadavg()))


if __name__ == "__main__":
    main()
