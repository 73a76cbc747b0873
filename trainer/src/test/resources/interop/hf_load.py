"""Loads one of our checkpoints the way a Hugging Face user does, and reports what it computes.

usage: python hf_load.py MODEL_DIR REQUEST_JSON OUT_DIR

REQUEST_JSON: {"text": str, "prompt": str, "max_new_tokens": int}
Writes OUT_DIR/result.json (token ids, greedy generation, classes, special ids) and
OUT_DIR/logits.f32 (the logits of "text", (T, V) float32 little-endian) for the Java test to
compare with our own model.
"""

import json
import sys

import torch
from transformers import AutoTokenizer, Gemma2ForCausalLM


def main(model_dir, request_file, out_dir):
    torch.set_num_threads(2)
    request = json.load(open(request_file, encoding="utf-8"))
    # eager attention: sdpa and flash attention drop Gemma 2's attention-logit soft-cap
    model = Gemma2ForCausalLM.from_pretrained(model_dir, attn_implementation="eager")
    model.eval()
    tok = AutoTokenizer.from_pretrained(model_dir)

    text_ids = tok(request["text"])["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([text_ids])).logits[0]  # (T, V)
    logits.to(torch.float32).numpy().astype("<f4").tofile(out_dir + "/logits.f32")

    prompt_ids = tok(request["prompt"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(
            prompt_ids, max_new_tokens=request["max_new_tokens"], do_sample=False
        )
    new_ids = out[0, prompt_ids.shape[1]:].tolist()
    eos = model.generation_config.eos_token_id
    eos = [eos] if isinstance(eos, int) else list(eos or [])
    result = {
        "config_class": type(model.config).__name__,
        "tokenizer_class": type(tok).__name__,
        "dtype": str(model.dtype),
        "vocab_size": model.config.vocab_size,
        "text_ids": text_ids,
        "prompt_ids": prompt_ids[0].tolist(),
        "generated_ids": new_ids,
        "generated_text": tok.decode(new_ids, skip_special_tokens=True),
        "generation_eos_token_id": eos,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
    }
    with open(out_dir + "/result.json", "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:4])
