# Summary of a sequence-level KD study: python3 summary.py STUDY_DIR [PREFIX] (after run.sh; PREFIX e- for
# six-tasks/, whose data files are e-clean.jsonl and e-noisy.jsonl).
# Per model: validation loss on the held-out true labels (all, one-answer, several-answer tasks) and exact
# match of greedy answers on the held-out one-answer prompts with its 95% Wilson interval; per student set
# the share of one-answer training labels that are right; the paired exact-match difference against the
# noisy-label student (Wald interval for paired proportions, as docs/demo.md).
import glob, json, math, os, sys

W = sys.argv[1] if len(sys.argv) > 1 else '.'
P = sys.argv[2] if len(sys.argv) > 2 else ''
SEVERAL = {"Name a fruit.", "Give me a fruit.", "Say a random digit.", "Pick a digit.", "Name a colour.",
           "Give me a colour.", "Say a greeting.", "Greet me.", "Name an animal.", "Give me an animal."}

def wilson(k, n, z=1.959964):
    p = k / n; d = 1 + z * z / n; c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h

def rows(path):
    return [json.loads(l) for l in open(path, encoding='utf-8') if l.strip()]

def last(d):
    return sorted(glob.glob(os.path.join(W, d, 'checkpoints', 'step-*')))[-1]

clean = rows(os.path.join(W, P + 'clean.jsonl'))
truth = [r['output'] for r in clean]
def label_accuracy(labels):
    u = [i for i, r in enumerate(clean) if r['instruction'] not in SEVERAL]
    return sum(labels[i].strip() == truth[i] for i in u), len(u)
print('training labels, one-answer prompts right:')
sets = {'clean': [r['output'] for r in clean], 'noisy': [r['output'] for r in rows(os.path.join(W, P + 'noisy.jsonl'))]}
syn = glob.glob(os.path.join(W, 'syn', 'checkpoints', 'step-*', 'data.jsonl'))
if syn:
    got = {r['source_index']: r['output'] for r in rows(syn[0])}
    sets['teacher answers'] = [got.get(i, '') for i in range(len(clean))]
    print(f'  (teacher answered {len(got)} of {len(clean)} prompts)')
for name, labels in sets.items():
    k, n = label_accuracy(labels)
    print(f'  {name}: {k}/{n} = {100 * k / n:.1f}%')

hits = {}
print('\n| model | val loss | one answer | several answers | exact match (95% Wilson) |')
print('| --- | ---: | ---: | ---: | ---: |')
for m in ['teacher', 'clean', 'noisy', 'seqkd', 'seqkd-logits']:
    d = os.path.join(W, 'eval-' + m)
    if not os.path.isdir(d):
        continue
    if not glob.glob(os.path.join(d, 'checkpoints', 'step-*')):
        continue
    ck = last('eval-' + m)
    ev = json.load(open(os.path.join(ck, 'evaluation.json')))
    g = [r for r in rows(os.path.join(ck, 'generations.jsonl')) if r['instruction'] not in SEVERAL]
    h = [r['response'].strip() == r['reference'].strip() for r in g]
    hits[m] = h
    k, n = sum(h), len(h); lo, hi = wilson(k, n)
    print(f"| {m} | {ev['val_loss']:.4f} | {ev.get('val_loss_unique', float('nan')):.4f} | {ev.get('val_loss_several', float('nan')):.4f} |"
          f" {100 * k / n:.1f}% ({100 * lo:.1f}-{100 * hi:.1f}), {k}/{n} (job: {100 * ev['exact_match']:.1f}%) |")
if 'noisy' in hits:
    for m in ['seqkd', 'seqkd-logits', 'clean']:
        if m in hits:
            a, b = hits[m], hits['noisy']; n = len(a)
            bb = sum(x and not y for x, y in zip(a, b)); cc = sum(y and not x for x, y in zip(a, b))
            dlt = (bb - cc) / n; se = math.sqrt(((bb + cc) - (bb - cc) ** 2 / n)) / n
            print(f'{m} minus noisy: {100 * dlt:+.1f} points (95% paired {100 * (dlt - 1.96 * se):+.1f} to'
                  f' {100 * (dlt + 1.96 * se):+.1f}); {bb} prompts right only for {m}, {cc} only for noisy')
