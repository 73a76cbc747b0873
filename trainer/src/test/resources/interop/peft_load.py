"""Loads one of our LoRA adapters with Hugging Face PEFT, and our merged checkpoint without it.

usage: python peft_load.py BASE_DIR ADAPTER_DIR MERGED_DIR IDS_JSON OUT_DIR

BASE_DIR: our base checkpoint (Gemma2ForCausalLM); ADAPTER_DIR: our adapter_config.json and
adapter_model.safetensors; MERGED_DIR: what `distill merge` wrote. IDS_JSON: [int, ...].
Writes to OUT_DIR (each (T, V) float32 little-endian): peft_logits.f32 (PeftModel over the base),
merged_logits.f32 (the merged checkpoint in plain transformers), base_logits.f32 (the base alone);
result.json (what PEFT made of the adapter); resaved/ (PEFT's own save_pretrained of it).
"""

import json
import sys

import torch
from peft import PeftConfig, PeftModel
from transformers import Gemma2ForCausalLM


def logits(model, ids, path):
    with torch.no_grad():
        out = model(torch.tensor([ids])).logits[0]  # (T, V)
    out.to(torch.float32).numpy().astype("<f4").tofile(path)


def main(base_dir, adapter_dir, merged_dir, ids_file, out_dir):
    torch.set_num_threads(2)
    ids = json.load(open(ids_file, encoding="utf-8"))
    # eager attention: sdpa and flash attention drop Gemma 2's attention-logit soft-cap. fp32 asked
    # for: a base written as bf16 (a bf16-mixed run's: torch_dtype bfloat16) would otherwise load and
    # compute in bf16; its values upcast exactly, so the comparison is of the same weights in fp32
    base = Gemma2ForCausalLM.from_pretrained(
        base_dir, attn_implementation="eager", dtype=torch.float32)
    base.eval()
    logits(base, ids, out_dir + "/base_logits.f32")

    config = PeftConfig.from_pretrained(adapter_dir)
    model = PeftModel.from_pretrained(base, adapter_dir)
    model.eval()
    logits(model, ids, out_dir + "/peft_logits.f32")
    lora_a = {n: p for n, p in model.named_parameters() if "lora_A" in n}
    lora_b = {n: p for n, p in model.named_parameters() if "lora_B" in n}
    model.save_pretrained(out_dir + "/resaved")

    merged = Gemma2ForCausalLM.from_pretrained(merged_dir, attn_implementation="eager")
    merged.eval()
    logits(merged, ids, out_dir + "/merged_logits.f32")

    result = {
        "config_class": type(config).__name__,
        "peft_type": str(config.peft_type.value),
        "r": config.r,
        "lora_alpha": config.lora_alpha,
        "target_modules": sorted(config.target_modules),
        "lora_a_modules": len(lora_a),
        "lora_b_modules": len(lora_b),
        "lora_b_abs_max": max(float(p.abs().max()) for p in lora_b.values()),
        "scaling": sorted({float(m.scaling["default"]) for m in model.modules() if hasattr(m, "scaling") and isinstance(m.scaling, dict) and "default" in m.scaling}),
        "merged_class": type(merged).__name__,
        "merged_dtype": str(merged.dtype),
    }
    with open(out_dir + "/result.json", "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:6])
