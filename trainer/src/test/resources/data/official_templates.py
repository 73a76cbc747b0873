"""Renders a fixed conversation with the official chat templates (copied from each model's
tokenizer_config.json) using jinja2, as transformers' apply_chat_template does, and prints the results
as JSON. PromptTemplateTest compares the Java rendering with these strings (pasted in
official_templates.json). Run: python3 official_templates.py > official_templates.json
"""
import json

from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATES = {
    # google/gemma-2-2b-it
    "gemma": (
        "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
        "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
        "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}",
        "<bos>", "<eos>"),
    # meta-llama/Meta-Llama-3-8B-Instruct
    "llama3": (
        "{% set loop_messages = messages %}{% for message in loop_messages %}"
        "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
        "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
        "<|begin_of_text|>", "<|end_of_text|>"),
    # microsoft/Phi-3-mini-128k-instruct (first release)
    "phi3": (
        "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}"
        "{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}"
        "{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}",
        "<s>", "<|endoftext|>"),
    # transformers' ChatML template (former default_chat_template)
    "chatml": (
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
        "", "<|im_end|>"),
}

# tatsu-lab/stanford_alpaca train.py
PROMPT_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n")
PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n")

CONVERSATION = [
    {"role": "user", "content": "  What is 2+3?\n"},
    {"role": "assistant", "content": "5"},
    {"role": "user", "content": "And 4*4?"},
    {"role": "assistant", "content": "16 \n"},
]

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
out = {}
for name, (source, bos, eos) in TEMPLATES.items():
    t = env.from_string(source)
    out[name] = {
        "full": t.render(messages=CONVERSATION, bos_token=bos, eos_token=eos, add_generation_prompt=False),
        "generation": t.render(messages=CONVERSATION[:3], bos_token=bos, eos_token=eos, add_generation_prompt=True),
        "bos": bos,
        "eos": eos,
    }
out["alpaca"] = {
    "with_input": "<s>" + PROMPT_INPUT.format(instruction="Add the numbers.", input="2 and 3") + "5" + "</s>",
    "no_input": "<s>" + PROMPT_NO_INPUT.format(instruction="Say hi.") + "Hi!" + "</s>",
    "bos": "<s>",
    "eos": "</s>",
}
print(json.dumps(out, indent=2, ensure_ascii=False))
