"""``sglang-native demo``: one chat turn rendered to exact token ids and sent to SGLang ``/generate``."""

from __future__ import annotations

import contextlib
import sys
from typing import Any, TextIO

import httpx

from .emulator import Emulator, load_emulator_tokenizer

DEMO_MESSAGES = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "What is the weather like in Paris today?"},
]
SCRIPTED_ANSWER = "It is sunny in Paris today, about 24 °C with a light breeze."


def render_prompt_ids(tokenizer, messages: list[dict[str, Any]]) -> list[int]:
    """The chat rendered with the tokenizer's own template, as token ids."""
    rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    ids = rendered["input_ids"] if hasattr(rendered, "keys") else rendered  # BatchEncoding in transformers 5
    return list(ids)


def _print_result(out: TextIO, tokenizer, prompt_ids: list[int], result: dict[str, Any]) -> None:
    meta = result["meta_info"]
    out.write("Prompt (rendered by the chat template):\n")
    out.write(tokenizer.decode(prompt_ids) + "\n")
    out.write(f"Prompt token ids ({len(prompt_ids)}): {prompt_ids}\n\n")
    out.write(f"Completion text: {result['text']!r}\n")
    out.write(f"Completion token ids ({len(result['output_ids'])}): {result['output_ids']}\n")
    out.write(f"Finish reason: {meta['finish_reason']}  cached prompt tokens: {meta.get('cached_tokens')}\n\n")
    out.write(f"{'token':<20} {'id':>7} {'logprob':>9}  top alternatives\n")
    tops = meta.get("output_top_logprobs") or [None] * len(meta["output_token_logprobs"])
    for (logprob, token_id, text), top in zip(meta["output_token_logprobs"], tops, strict=True):
        alternatives = ", ".join(f"{alt_text!r} {alt_lp:.2f}" for alt_lp, _, alt_text in (top or [])[1:])
        out.write(f"{text!r:<20} {token_id:>7} {logprob:>9.4f}  {alternatives}\n")


def run_demo(*, api_base: str | None, api_key: str | None, tokenizer: str = "qwen3", out: TextIO = sys.stdout) -> int:
    """Render, send and print one turn; against the embedded emulator unless ``api_base`` is given."""
    tok = load_emulator_tokenizer(tokenizer)
    prompt_ids = render_prompt_ids(tok, DEMO_MESSAGES)
    with contextlib.ExitStack() as stack:
        if api_base is None:
            emulator = stack.enter_context(Emulator(tokenizer))
            emulator.script(SCRIPTED_ANSWER)
            api_base = emulator.url
            out.write(f"Started the embedded SGLang emulator at {api_base}\n\n")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        body = {
            "input_ids": prompt_ids,
            "sampling_params": {"max_new_tokens": 64, "temperature": 0.0},
            "return_logprob": True,
            "top_logprobs_num": 3,
            "return_text_in_logprobs": True,
        }
        try:
            response = httpx.post(f"{api_base.rstrip('/')}/generate", json=body, headers=headers, timeout=120)
        except httpx.HTTPError as exc:
            out.write(f"Could not reach SGLang at {api_base}: {exc}\n")
            return 1
        if response.status_code != 200:
            out.write(f"SGLang answered {response.status_code}: {response.text}\n")
            return 1
        _print_result(out, tok, prompt_ids, response.json())
    return 0
