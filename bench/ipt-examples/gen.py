# Data for the instruction pre-training and mix examples (docs/instruction-pretraining.md, spec.md#mix).
# Usage: python3 gen.py DATASETS_DIR (the folder holding the-verdict.txt); writes into the current directory.
import json, re, sys
words = open(sys.argv[1] + '/the-verdict.txt', encoding='utf-8').read().split()
chunks = [' '.join(words[i:i+10]) for i in range(0, len(words) - 10, 10)]
cut = int(len(chunks) * 0.8)
def pair(c):
    w = c.split()
    return {"question": "Complete from the text: " + ' '.join(w[2:6]), "answer": ' '.join(w[6:8])}
def aug(c, k):
    p = pair(c)
    return {"text": c + "\n\nQuestion: " + p["question"] + "\nAnswer: " + p["answer"], "pairs": [p],
            "source": {"chunk": k}}
with open('raw-train.jsonl', 'w') as f:
    for c in chunks[:cut]: f.write(json.dumps({"text": c}) + '\n')
with open('aug-train.jsonl', 'w') as f:
    for k, c in enumerate(chunks[:cut]): f.write(json.dumps(aug(c, k)) + '\n')
with open('aug-heldout.jsonl', 'w') as f:
    for k, c in enumerate(chunks[cut:]): f.write(json.dumps(aug(c, cut + k)) + '\n')
with open('raw-heldout.jsonl', 'w') as f:
    for c in chunks[cut:]: f.write(json.dumps({"text": c}) + '\n')
print(len(chunks), cut)
