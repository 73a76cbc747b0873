"""Talks to `distill serve` with the openai package, as a user would, and reports what it got.

usage: python serve_client.py BASE_URL API_KEY MODEL_DIR OUT_JSON

BASE_URL is the server's http://host:port/v1; MODEL_DIR the checkpoint it serves (loaded here with
transformers for a greedy generation of the same prompt). Writes OUT_JSON for the Java test.
"""

import json
import sys

import openai

QUESTION = "Count to three."
# the gemma rendering of one user turn, with the generation prompt
RAW_PROMPT = "<bos><start_of_turn>user\n" + QUESTION + "<end_of_turn>\n<start_of_turn>model\n"
MAX_TOKENS = 24


def error_of(call):
    try:
        call()
    except openai.APIStatusError as e:
        body = e.body if isinstance(e.body, dict) else {}
        return {
            "class": type(e).__name__,
            "status": e.status_code,
            "type": body.get("type"),
            "param": body.get("param"),
            "code": body.get("code"),
            "message": body.get("message"),
        }
    return None


def main(base_url, api_key, model_dir, out_file):
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=120)
    out = {}

    models = client.models.list()
    out["models"] = [m.id for m in models.data]
    model = models.data[0].id

    c = client.completions.create(
        model=model, prompt=RAW_PROMPT, max_tokens=MAX_TOKENS, temperature=0, seed=1
    )
    out["completion"] = {
        "text": c.choices[0].text,
        "finish_reason": c.choices[0].finish_reason,
        "usage": c.usage.model_dump(),
        "object": c.object,
    }

    messages = [{"role": "user", "content": QUESTION}]
    chat = client.chat.completions.create(
        model=model, messages=messages, max_tokens=MAX_TOKENS, temperature=0, seed=1
    )
    out["chat"] = {
        "content": chat.choices[0].message.content,
        "role": chat.choices[0].message.role,
        "finish_reason": chat.choices[0].finish_reason,
        "usage": chat.usage.model_dump(),
    }

    # the same request streamed, and a sampled one both ways (the seed makes them equal)
    def streamed(**kw):
        pieces, finish, roles, chunks = [], None, [], 0
        for chunk in client.chat.completions.create(model=model, messages=messages, stream=True, **kw):
            chunks += 1
            for ch in chunk.choices:
                if ch.delta.role:
                    roles.append(ch.delta.role)
                if ch.delta.content:
                    pieces.append(ch.delta.content)
                if ch.finish_reason:
                    finish = ch.finish_reason
        return {"text": "".join(pieces), "finish_reason": finish, "roles": roles, "chunks": chunks}

    out["stream"] = streamed(max_tokens=MAX_TOKENS, temperature=0, seed=1)
    sampled = dict(max_tokens=MAX_TOKENS, temperature=1.3, top_p=0.95, seed=5)
    out["sampled"] = client.chat.completions.create(
        model=model, messages=messages, **sampled
    ).choices[0].message.content
    out["sampled_stream"] = streamed(**sampled)

    with client.completions.create(
        model=model, prompt=RAW_PROMPT, max_tokens=MAX_TOKENS, temperature=0, stream=True
    ) as s:
        out["completion_stream"] = "".join(ch.choices[0].text for ch in s if ch.choices)

    lp = client.completions.create(
        model=model, prompt=RAW_PROMPT, max_tokens=4, temperature=0, logprobs=2
    ).choices[0].logprobs
    out["completion_logprobs"] = {
        "tokens": lp.tokens,
        "token_logprobs": lp.token_logprobs,
        "top_logprobs": lp.top_logprobs,
    }
    clp = client.chat.completions.create(
        model=model, messages=messages, max_tokens=4, temperature=0, logprobs=True, top_logprobs=2
    ).choices[0].logprobs
    out["chat_logprobs"] = [
        {"token": t.token, "logprob": t.logprob, "top": [[a.token, a.logprob] for a in t.top_logprobs]}
        for t in clp.content
    ]

    n2 = client.completions.create(
        model=model, prompt=RAW_PROMPT, max_tokens=8, temperature=1.5, n=2, seed=3
    )
    out["n2"] = [{"index": ch.index, "text": ch.text} for ch in n2.choices]

    stop = client.completions.create(
        model=model, prompt=RAW_PROMPT, max_tokens=MAX_TOKENS, temperature=0, stop=[" "]
    )
    out["stop"] = {"text": stop.choices[0].text, "finish_reason": stop.choices[0].finish_reason}

    out["errors"] = {
        "bad_temperature": error_of(
            lambda: client.completions.create(model=model, prompt="a", temperature=5)
        ),
        "unknown_model": error_of(
            lambda: client.chat.completions.create(model="gpt-4o", messages=messages)
        ),
        "no_key": error_of(
            lambda: openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0).models.list()
        ),
    }

    # transformers' greedy generation of the same raw prompt, from the same directory
    import torch
    from transformers import AutoTokenizer, Gemma2ForCausalLM

    torch.set_num_threads(2)
    hf = Gemma2ForCausalLM.from_pretrained(model_dir, attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    ids = tok(RAW_PROMPT, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        gen = hf.generate(ids, max_new_tokens=MAX_TOKENS, do_sample=False)
    out["transformers_greedy"] = tok.decode(gen[0, ids.shape[1]:].tolist(), skip_special_tokens=True)

    with open(out_file, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:5])
