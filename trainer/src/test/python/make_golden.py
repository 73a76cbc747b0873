#!/usr/bin/env python3
"""Golden logits of a tiny Gemma 2, from an independent plain-torch implementation.

Written from Hugging Face's modeling_gemma2.py (eager attention path) without importing transformers, which is
not installed here. Run with Debian's python3-torch:

    /usr/bin/python3 trainer/src/test/python/make_golden.py trainer/src/test/resources/golden

It also prints, for any Gemma2ForCausalLM directory (F32/BF16/F16, single file or shards), the same JSON as
`./distill logits`, for parity checks of checkpoints the Java side wrote:

    /usr/bin/python3 trainer/src/test/python/make_golden.py logits --model DIR --tokens 2,17,45

Writes, under the output directory:
  gemma2-golden-f32/   config.json + model.safetensors (F32)
  gemma2-golden-bf16/  config.json + model.safetensors (BF16)
  gemma2-golden.json   input ids, attention mask and the expected logits of every real (unpadded) position

The weights are rounded to bf16 before anything else, so both files hold exactly the same values and one set
of golden logits serves both. Sizes are chosen so that every feature matters: soft-caps small enough that tanh
bends, a sliding window (4) shorter than the sequence (10), query_pre_attn_scalar different from head_dim,
norm weights away from zero, GQA with 2 query heads per key/value head, and a padded second sequence.
"""
import json
import math
import os
import struct
import sys

import torch

CONFIG = {
    "architectures": ["Gemma2ForCausalLM"],
    "model_type": "gemma2",
    "vocab_size": 64,
    "hidden_size": 32,
    "intermediate_size": 48,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "max_position_embeddings": 128,
    "rms_norm_eps": 1e-6,
    "rope_theta": 100.0,
    "attn_logit_softcapping": 2.0,
    "final_logit_softcapping": 3.0,
    "query_pre_attn_scalar": 12.0,
    "sliding_window": 4,
    "hidden_activation": "gelu_pytorch_tanh",
    "tie_word_embeddings": True,
    "bos_token_id": 2,
    "eos_token_id": 1,
    "pad_token_id": 0,
    "torch_dtype": "float32",
}

INPUT_IDS = [[2, 17, 45, 9, 33, 60, 5, 12, 41, 28], [2, 7, 19, 50, 3, 0, 0, 0, 0, 0]]
ATTENTION_MASK = [[1] * 10, [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]]


def make_weights(c, seed=1234):
    g = torch.Generator().manual_seed(seed)
    d, hd = c["hidden_size"], c["head_dim"]
    h, kv, i = c["num_attention_heads"], c["num_key_value_heads"], c["intermediate_size"]

    def normal(*shape, std):
        return (torch.randn(*shape, generator=g) * std).bfloat16().float()

    w = {"model.embed_tokens.weight": normal(c["vocab_size"], d, std=0.3)}
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        w[p + "input_layernorm.weight"] = normal(d, std=0.3)
        w[p + "self_attn.q_proj.weight"] = normal(h * hd, d, std=0.2)
        w[p + "self_attn.k_proj.weight"] = normal(kv * hd, d, std=0.2)
        w[p + "self_attn.v_proj.weight"] = normal(kv * hd, d, std=0.5)
        w[p + "self_attn.o_proj.weight"] = normal(d, h * hd, std=0.3)
        w[p + "post_attention_layernorm.weight"] = normal(d, std=0.3)
        w[p + "pre_feedforward_layernorm.weight"] = normal(d, std=0.3)
        w[p + "mlp.gate_proj.weight"] = normal(i, d, std=0.4)
        w[p + "mlp.up_proj.weight"] = normal(i, d, std=0.4)
        w[p + "mlp.down_proj.weight"] = normal(d, i, std=0.3)
        w[p + "post_feedforward_layernorm.weight"] = normal(d, std=0.3)
    w["model.norm.weight"] = normal(d, std=0.3)
    return w


def rms_norm(x, weight, eps):
    # Gemma2RMSNorm: x * rsqrt(mean(x^2) + eps) * (1 + w), in fp32
    x = x.float()
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * (1.0 + weight.float())


def gelu_tanh(x):
    return torch.nn.functional.gelu(x, approximate="tanh")


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope(c, seq_len):
    dim = c["head_dim"]
    inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    pos = torch.arange(seq_len).float()
    freqs = torch.outer(pos, inv_freq)  # (T, hd/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (T, hd)
    return emb.cos(), emb.sin()


def repeat_kv(x, n_rep):
    b, kv, t, hd = x.shape
    return x[:, :, None, :, :].expand(b, kv, n_rep, t, hd).reshape(b, kv * n_rep, t, hd)


def forward(c, w, input_ids, attention_mask):
    ids = torch.tensor(input_ids)
    am = torch.tensor(attention_mask)
    b, t = ids.shape
    d, hd = c["hidden_size"], c["head_dim"]
    h, kv = c["num_attention_heads"], c["num_key_value_heads"]
    eps = c["rms_norm_eps"]
    minv = torch.finfo(torch.float32).min

    x = torch.nn.functional.embedding(ids, w["model.embed_tokens.weight"])
    x = x * torch.tensor(d ** 0.5, dtype=x.dtype)

    # 4-D causal mask with padding, as _update_causal_mask: (B, 1, T, T)
    causal = torch.full((t, t), minv).triu(1)
    mask = causal[None, None].expand(b, 1, t, t).clone()
    mask = mask.masked_fill(am[:, None, None, :] == 0, minv)

    cos, sin = rope(c, t)
    cos, sin = cos[None, None], sin[None, None]  # (1, 1, T, hd)
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        layer_mask = mask
        if layer % 2 == 0:  # sliding layer
            sliding = torch.tril(torch.ones_like(mask, dtype=torch.bool), diagonal=-c["sliding_window"])
            layer_mask = torch.where(sliding, minv, mask)

        residual = x
        hs = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = (hs @ w[p + "self_attn.q_proj.weight"].T).view(b, t, h, hd).transpose(1, 2)
        k = (hs @ w[p + "self_attn.k_proj.weight"].T).view(b, t, kv, hd).transpose(1, 2)
        v = (hs @ w[p + "self_attn.v_proj.weight"].T).view(b, t, kv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = repeat_kv(k, h // kv)
        v = repeat_kv(v, h // kv)
        scores = torch.matmul(q, k.transpose(2, 3)) * c["query_pre_attn_scalar"] ** -0.5
        cap = c["attn_logit_softcapping"]
        scores = torch.tanh(scores / cap) * cap
        scores = scores + layer_mask
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32)
        attn = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, h * hd)
        attn = attn @ w[p + "self_attn.o_proj.weight"].T
        x = residual + rms_norm(attn, w[p + "post_attention_layernorm.weight"], eps)

        residual = x
        hs = rms_norm(x, w[p + "pre_feedforward_layernorm.weight"], eps)
        gate = gelu_tanh(hs @ w[p + "mlp.gate_proj.weight"].T)
        up = hs @ w[p + "mlp.up_proj.weight"].T
        mlp = (gate * up) @ w[p + "mlp.down_proj.weight"].T
        x = residual + rms_norm(mlp, w[p + "post_feedforward_layernorm.weight"], eps)

    x = rms_norm(x, w["model.norm.weight"], eps)
    logits = x @ w["model.embed_tokens.weight"].T
    cap = c["final_logit_softcapping"]
    return torch.tanh(logits / cap) * cap


def save_safetensors(path, tensors, dtype):
    """The safetensors format by hand (the safetensors package is not installed)."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        if dtype == "BF16":
            data = t.contiguous().bfloat16().view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            data = t.contiguous().float().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for blob in blobs:
            f.write(blob)


def load_safetensors(path):
    """Reads F32/BF16/F16 tensors of a safetensors file into fp32 torch tensors."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = bytearray(data[b:end])
        if e["dtype"] == "F32":
            t = torch.frombuffer(raw, dtype=torch.float32)
        elif e["dtype"] == "BF16":
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16).float()
        elif e["dtype"] == "F16":
            t = torch.frombuffer(raw, dtype=torch.float16).float()
        else:
            raise ValueError("%s: tensor %s: unsupported dtype %s" % (path, name, e["dtype"]))
        out[name] = t.reshape(e["shape"])
    return out


def load_model_dir(d):
    """config.json plus model.safetensors or the shards of model.safetensors.index.json."""
    with open(os.path.join(d, "config.json")) as f:
        c = json.load(f)
    index = os.path.join(d, "model.safetensors.index.json")
    w = {}
    if os.path.exists(index):
        with open(index) as f:
            for shard in sorted(set(json.load(f)["weight_map"].values())):
                w.update(load_safetensors(os.path.join(d, shard)))
    else:
        w = load_safetensors(os.path.join(d, "model.safetensors"))
    return c, w


def logits_command(model_dir, tokens):
    """The same JSON as `./distill logits --model DIR --tokens ...`, from this reference."""
    c, w = load_model_dir(model_dir)
    ids = [int(t) for t in tokens.split(",")]
    with torch.no_grad():
        logits = forward(c, w, [ids], [[1] * len(ids)])[0]
    positions = []
    for row in logits:
        top = torch.topk(row, 5)
        positions.append({
            "logsumexp": float(torch.logsumexp(row.double(), 0)),
            "top": [{"id": int(i), "logit": float(v)} for v, i in zip(top.values, top.indices)],
        })
    print(json.dumps({"positions": positions}))


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "logits" and sys.argv[2] == "--model" and sys.argv[4] == "--tokens":
        logits_command(sys.argv[3], sys.argv[5])
        return
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    torch.manual_seed(0)
    w = make_weights(CONFIG)
    with torch.no_grad():
        logits = forward(CONFIG, w, INPUT_IDS, ATTENTION_MASK)
    for name, dtype, torch_dtype in (("gemma2-golden-f32", "F32", "float32"), ("gemma2-golden-bf16", "BF16", "bfloat16")):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        cfg = dict(CONFIG, torch_dtype=torch_dtype)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
        save_safetensors(os.path.join(d, "model.safetensors"), w, dtype)
    golden = {
        "generator": "trainer/src/test/python/make_golden.py (torch %s)" % torch.__version__,
        "input_ids": INPUT_IDS,
        "attention_mask": ATTENTION_MASK,
        # logits[b][t] for real positions only (padded query rows are not compared)
        "logits": [
            [[round(float(v), 7) for v in logits[b, t]] for t in range(len(INPUT_IDS[b])) if ATTENTION_MASK[b][t]]
            for b in range(len(INPUT_IDS))
        ],
    }
    with open(os.path.join(out, "gemma2-golden.json"), "w") as f:
        json.dump(golden, f)
        f.write("\n")
    print("max abs logit %.4f, share above 0.9 cap %.3f" % (logits.abs().max().item(), (logits.abs() > 2.7).float().mean().item()))
    print("wrote", out)


if __name__ == "__main__":
    main()
